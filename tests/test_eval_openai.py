"The OpenAI-compatible client backend against a real HTTP server on loopback that serves the tiny model."
import json, threading, urllib.request
import pytest

from rft_nb.inference import (TransformersBackend, OpenAIBackend, run_inference, sampling_settings, to_openai_messages,
                              from_openai_messages)
from rft_nb.rows import row_prompt
from chat_server import chat_server, serve_chat
from rft_nb.synthetic import synthetic_rows


@pytest.fixture(scope='module')
def backend(tiny_path):
    return TransformersBackend.from_pretrained(tiny_path)

def _serve(backend, n_requests):
    srv = chat_server(backend, '127.0.0.1', 0, model_name='tiny')
    srv.timeout = 30                                    # a handle_request waits at most this long
    t = threading.Thread(target=serve_chat, args=(srv, n_requests), daemon=True); t.start()
    return srv, t, f'http://127.0.0.1:{srv.server_address[1]}/v1'

def test_messages_round_trip():
    rows = list(synthetic_rows('trance', 1, 'test_id', size=56))
    msgs, ims = row_prompt(rows[0])
    om = to_openai_messages(msgs, ims)
    parts = om[1]['content']
    assert [p['type'] for p in parts] == ['image_url', 'image_url', 'text']
    assert parts[0]['image_url']['url'].startswith('data:image/png;base64,')
    back, ims2 = from_openai_messages(om)
    assert back == msgs and [list(i.getdata()) for i in ims2] == [list(i.getdata()) for i in ims]   # PNG: lossless

def test_client_against_loopback_server(backend, tmp_path):
    rows = list(synthetic_rows('counting', 3, 'test_id', size=56)) + list(synthetic_rows('trance', 1, 'test_ood_left', size=56))
    prompts = [row_prompt(r) for r in rows]
    s = sampling_settings('reason_rft', temperature=1.0, top_k=0, max_new_tokens=12, seed=1234)  # sampled: outputs vary with the input
    n_requests = 1 + len(rows) + len(rows) + 1          # models, generate, run_inference, the 404
    srv, t, url = _serve(backend, n_requests)
    try:
        models = json.loads(urllib.request.urlopen(url + '/models', timeout=30).read())
        assert models['data'][0]['id'] == 'tiny'
        client = OpenAIBackend(url, 'tiny', api_key='sk-test', concurrency=2, timeout=60, retries=0, view=backend.view)
        got = client.generate(prompts, s)
        want = [backend.generate([p], s)[0] for p in prompts]           # the same model, directly, same seed
        assert got == want
        assert backend.generate(prompts[:1], {**s, 'seed': 99})[0] != got[0]     # the seed travels (the random model ignores little else)
        # through run_inference: every row written once, scored
        with pytest.raises(ValueError, match="family is unknown"):   # a server whose family nobody named is refused
            run_inference(rows, OpenAIBackend(url, 'tiny'), tmp_path / 'refused.jsonl', s, progress=False)
        preds = run_inference(rows, client, tmp_path / 'p.jsonl', s, batch_size=2, progress=False)
        assert [p['id'] for p in preds] == [r['id'] for r in rows]
        assert [p['task'] for p in preds] == ['counting'] * 3 + ['trance'] and all('correct' in p for p in preds)
        # errors are errors: a 404 fails at once, with the server's message
        bad = OpenAIBackend(url.replace('/v1', '/nope'), 'tiny', retries=0, timeout=30)
        with pytest.raises(RuntimeError, match='HTTP 404'): bad.generate(prompts[:1], s)
    finally:
        t.join(timeout=10); srv.server_close()
    assert not t.is_alive()                                              # bounded: the server answered exactly its quota

def test_payload_fields():
    rows = list(synthetic_rows('counting', 1, 'test_id', size=56))
    m, ims = row_prompt(rows[0])
    p = OpenAIBackend('http://x/v1', 'm').payload(m, ims, sampling_settings('reason_rft'))
    assert (p['temperature'], p['top_p'], p['top_k'], p['max_tokens'], p['n'], p['model']) == (0.1, 0.9, 50, 768, 1, 'm')
    assert 'top_k' not in OpenAIBackend('http://x/v1', 'm', send_top_k=False).payload(m, ims, sampling_settings('reason_rft'))
