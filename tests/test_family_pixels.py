"""One max_pixels / min_pixels per family (issue 24): a served Qwen2.5-VL's answer on a 1600 x 1200 photo is scored on the
grid its real processor makes, through the installed `rft-eval`."""
import io, json, os, subprocess, sys, threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rft_nb.families import FAMILIES, grounding_answer
from rft_nb.prompts import render_prompt
from rft_nb.schema import make_row, save_dataset
from chat_server import chat_server, serve_chat

BIN = Path(sys.executable).parent

# preprocessor_config.json of Qwen/Qwen2.5-VL-7B-Instruct (and -3B) on the Hugging Face Hub: what AutoProcessor and
# `vllm serve` resize to (https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct/blob/main/preprocessor_config.json)
QWEN25_PREPROCESSOR_CONFIG = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"}
BOX = [403.0, 297.0, 1191.0, 903.0]                     # the red square, in pixels of the 1600 x 1200 photo


def real_processor(tmp_path):
    "The image processor a Qwen2.5-VL checkpoint loads (from its preprocessor_config.json; the PIL class needs no torchvision)."
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    d = tmp_path / 'qwen25_processor'
    d.mkdir()
    (d / 'preprocessor_config.json').write_text(json.dumps(QWEN25_PREPROCESSOR_CONFIG))
    return Qwen2VLImageProcessorPil.from_pretrained(str(d))


class Qwen25Answers:
    "A stand-in for a served Qwen2.5-VL: it sees the image on its processor's grid and answers the red box in those pixels."
    def __init__(self, processor): self.ip = processor
    def generate(self, prompts, sampling):
        out = []
        for _, images in prompts:
            im = images[0]
            _, gh, gw = self.ip(images=[im], return_tensors='np')['image_grid_thw'][0]
            seen = np.asarray(im.convert('RGB').resize((int(gw) * 14, int(gh) * 14), Image.NEAREST))
            ys, xs = np.nonzero((seen[..., 0] > 200) & (seen[..., 1] < 50))
            out.append(f"<answer>({xs.min()},{ys.min()}),({xs.max() + 1},{ys.max() + 1})</answer>")
        return out


def test_served_qwen25_box_on_a_1600x1200_photo_is_scored_on_the_processors_grid(tmp_path):
    ip = real_processor(tmp_path)
    _, gh, gw = ip(images=[Image.new('RGB', (1600, 1200))], return_tensors='np')['image_grid_thw'][0]
    assert (int(gw) * 14, int(gh) * 14) == (1596, 1204) == FAMILIES['qwen2.5-vl'].seen_size(1600, 1200)

    im = Image.new('RGB', (1600, 1200), 'white')
    ImageDraw.Draw(im).rectangle([403, 297, 1190, 902], fill=(255, 0, 0))
    png = io.BytesIO(); im.save(png, 'PNG')
    row = make_row('photo-0', 'grounding', [{'bytes': png.getvalue(), 'path': None}],
                   render_prompt('grounding', question='Find the red square.'), answer=grounding_answer(BOX, 1600, 1200),
                   split='test_id', prompt_template='grounding', image_size=[1600, 1200], boxes=[BOX])
    save_dataset({'test_id': [row]}, tmp_path / 'photo')

    srv = chat_server(Qwen25Answers(ip), '127.0.0.1', 0, model_name='qwen25')
    t = threading.Thread(target=serve_chat, args=(srv,), daemon=True)
    t.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith('RFT_NB_')}
        env['OMP_NUM_THREADS'] = '1'
        r = subprocess.run([str(BIN / 'rft-eval'), '--backend', 'openai', '--base-url', f'http://127.0.0.1:{srv.server_address[1]}/v1',
                            '--served-model', 'qwen25', '--family', 'qwen2.5-vl', '--data', str(tmp_path / 'photo'),
                            '--out', str(tmp_path / 'served'), '--no-progress', '--set', f'paths.output_dir={tmp_path}'],
                           env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        srv.shutdown(); srv.server_close()
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'served' / 'eval_config.json').read_text())
    assert cfg['box_convention'] == 'resized-28-3136-12845056'
    pred = json.loads((tmp_path / 'served' / 'predictions.jsonl').read_text())
    want = [BOX[0] * 1596 / 1600, BOX[1] * 1204 / 1200, BOX[2] * 1596 / 1600, BOX[3] * 1204 / 1200]  # the model's own grid
    got = [int(v) for v in pred['answer'].replace('(', ',').replace(')', ',').split(',') if v.strip()]
    assert all(abs(a - b) <= 1.5 for a, b in zip(got, want)), (got, want)
    m = json.loads((tmp_path / 'served' / 'results.json').read_text())['metrics']['grounding']['test_id']
    assert m['acc@0.5'] == 100.0 and m['gIoU'] > 99.0, m                                  # read back onto the photo: the same box
