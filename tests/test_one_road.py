"""One road from a row to the model and back, for every model family:
- the prompt tokens (and pixels) TRL's GRPO and SFT paths build equal what evaluation sends the model;
- a perfect answer written in the family's convention scores IoU 1.0 (grounding) and mAP 100 (detection)
  through `rft-eval` against a local OpenAI-compatible server, with data built in 0-1000;
- the same answers read the old way (as 0-1000, the convention the data was built in) score wrong for a
  resized-pixel model: the bug the family object removes."""
import contextlib, hashlib, io, json, threading
from pathlib import Path

import pytest, torch

from rft_nb.coords import BoxConvention
from rft_nb.families import ModelView, FAMILIES, get_family, detection_answer, grounding_answer
from rft_nb.models import TINY_MODELS, tiny_model_path, load_processor
from rft_nb.rows import to_grpo_rows, to_sft_rows, row_prompt, render_for_model
from rft_nb.inference import TransformersBackend, model_inputs
from rft_nb.scoring import score_completion
from rft_nb.schema import save_dataset, to_pil
from rft_nb.synthetic import make_synthetic, synthetic_rows
from chat_server import chat_server, serve_chat

TINY = [n for n in TINY_MODELS if n.startswith('tiny-')]

@pytest.fixture(scope='module', params=TINY)
def model(request, cache_dir):
    path = tiny_model_path(request.param, cache_dir=cache_dir)
    proc = load_processor(path)
    return request.param, path, proc

def _eval_inputs(proc, view, row):
    "What `TransformersBackend.generate` feeds the model for one row (rendered for the model, as `run_inference` does)."
    return model_inputs(proc, [row_prompt(render_for_model(row, view))])

def test_grpo_prompt_tokens_equal_evaluation(model):
    from trl.data_utils import prepare_multimodal_messages
    name, path, proc = model
    view = ModelView.of(get_family(json.loads((path / 'config.json').read_text())['model_type']), proc)
    ds = make_synthetic('detection', 3, size=96)                      # boxes: the convention matters
    rows = to_grpo_rows(ds, view=view)
    for i in range(len(ds)):
        g = rows[i]
        # TRL GRPOTrainer: prepare_multimodal_messages(prompt, images) then apply_chat_template(tokenize=True)
        trl = proc.apply_chat_template(conversation=[prepare_multimodal_messages(g['prompt'], images=g['images'])],
                                       add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors='pt')
        ev = _eval_inputs(proc, view, ds[i])
        assert trl['input_ids'][0].tolist() == ev['input_ids'][0].tolist(), name
        assert torch.equal(trl['pixel_values'], ev['pixel_values'])
        assert g['problem'] == render_for_model(ds[i], view)['problem']   # the same units in the question

def test_sft_sequence_starts_with_the_evaluation_prompt(model):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling
    name, path, proc = model
    view = ModelView.of(get_family(json.loads((path / 'config.json').read_text())['model_type']), proc)
    ds = make_synthetic('counting', 2, size=96)
    sft = to_sft_rows(ds, 'cot', view=view)
    batch = DataCollatorForVisionLanguageModeling(proc)([dict(sft[0])])     # what TRL's SFTTrainer trains on
    ids = batch['input_ids'][0][batch['attention_mask'][0] == 1].tolist()
    prompt = _eval_inputs(proc, view, ds[0])['input_ids'][0].tolist()
    assert ids[:len(prompt)] == prompt, name                           # the prompt, then the target
    target = proc.tokenizer.decode(ids[len(prompt):], skip_special_tokens=False)
    assert ds[0]['reasoning'].split()[0] in target and f"<answer>{ds[0]['answer']}</answer>" in target

# ------------------------------------------------------------------ perfect answers through rft-eval

class Oracle:
    "A backend that answers every prompt perfectly in a model family's convention (looked up by image)."
    def __init__(self, rows, view):
        self.by_image = {self.key(to_pil(r['images'][0])): r for r in rows}
        self.view = view
    @staticmethod
    def key(im): return hashlib.sha1(im.tobytes()).hexdigest()
    def answer(self, row):
        w, h = row['image_size']
        conv = self.view.convention
        a = grounding_answer(row['boxes'][0], w, h, conv) if row['task'] == 'grounding' else detection_answer(row['boxes'], w, h, conv)
        return f"<think>found it</think><answer>{a}</answer>"
    def generate(self, prompts, sampling):
        return [self.answer(self.by_image[self.key(ims[0])]) for _, ims in prompts]

def _eval_through_server(tmp_path, data, rows, view, family_args):
    from rft_nb.evaluate import main
    srv = chat_server(Oracle(rows, view), '127.0.0.1', 0, model_name='oracle')
    srv.timeout = 30
    n = len(rows)
    t = threading.Thread(target=serve_chat, args=(srv, n), daemon=True)
    t.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            res = main(['--backend', 'openai', '--base-url', f'http://127.0.0.1:{srv.server_address[1]}/v1', '--served-model',
                        'oracle', '--data', str(data), '--out', str(tmp_path / 'run'), '--no-progress', '--concurrency', '1',
                        '--batch-size', '4'] + family_args)
    finally:
        t.join(timeout=30); srv.server_close()
    return res

def _box_rows():
    """Grounding and detection rows on 448 x 448 images (unresized by every family here), built in 0-1000 like the
    builders do; box corners on multiples of 56 px so that a perfect answer is exact in every convention (448/1000 * 125 = 56)."""
    import random
    from PIL import Image
    from rft_nb.schema import make_row
    rng, rows = random.Random(0), []
    for i in range(8):
        im = Image.new('RGB', (448, 448), (rng.randrange(256), rng.randrange(256), i))       # a distinct image per row
        buf = io.BytesIO(); im.save(buf, 'PNG')
        boxes = []
        for _ in range(1 if i < 4 else 1 + i % 3):
            x1, y1 = rng.randrange(0, 6) * 56, rng.randrange(0, 6) * 56
            boxes.append([x1, y1, x1 + 56 * rng.randrange(1, 3), y1 + 56 * rng.randrange(1, 3)])
        task = 'grounding' if i < 4 else 'detection'
        ans = grounding_answer(boxes[0], 448, 448) if task == 'grounding' else detection_answer(boxes, 448, 448)
        rows.append(make_row(f'{task}-{i}', task, [{'bytes': buf.getvalue(), 'path': None}], f'Find the objects ({i}).',
                             answer=ans, split='test_id', image_size=[448, 448], boxes=boxes, box_convention='norm1000',
                             category='square' if task == 'detection' else ''))
    return rows

@pytest.fixture(scope='module')
def boxes_data(tmp_path_factory):
    d = tmp_path_factory.mktemp('boxes')
    rows = _box_rows()
    save_dataset({'test_id': rows}, d / 'data')
    return d / 'data', rows

@pytest.mark.parametrize('family', list(FAMILIES))
def test_perfect_answers_score_perfectly_for_every_family(family, boxes_data, tmp_path):
    data, rows = boxes_data
    view = ModelView.of(family, max_pixels=200704)
    res = _eval_through_server(tmp_path, data, rows, view, ['--family', family, '--max-pixels', '200704'])
    m = res['metrics']
    assert m['grounding']['test_id']['mIoU'] == pytest.approx(100.0, abs=1e-6)
    assert m['grounding']['test_id']['acc@0.5'] == 100.0
    assert m['detection']['test_id']['mAP'] == pytest.approx(100.0, abs=1e-6)
    cfg = json.loads((tmp_path / 'run' / 'eval_config.json').read_text())
    assert (cfg['family'], cfg['box_convention']) == (get_family(family).name, str(view.convention))

def test_resized_model_on_norm1000_data_is_scored_right_now(boxes_data, tmp_path):
    data, rows = boxes_data
    view = ModelView.of('qwen2.5-vl', max_pixels=200704)
    assert rows[0]['box_convention'] == 'norm1000' and str(view.convention).startswith('resized')
    res = _eval_through_server(tmp_path, data, rows, view, ['--family', 'qwen2_5_vl', '--max-pixels', '200704'])
    assert res['metrics']['grounding']['test_id']['mIoU'] == pytest.approx(100.0, abs=1e-6)
    # the old road: the row as built (norm1000) scored the model's resized-pixel answer as if it were 0-1000
    oracle = Oracle(rows, view)
    old = [score_completion(oracle.answer(r), r)['iou'] for r in rows if r['task'] == 'grounding']
    assert max(old) < 0.5, old
