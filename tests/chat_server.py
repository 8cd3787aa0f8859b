"A local OpenAI-compatible chat server for tests: answers `/v1/chat/completions` and `/v1/models` with any backend."
import json, threading, time

from rft_nb.inference import from_openai_messages


def chat_server(backend, host: str = '127.0.0.1', port: int = 0, model_name: str = 'local', default_max_tokens: int = 256):
    "An HTTP server (not yet serving) answering `/v1/chat/completions` and `/v1/models` with `backend`."
    from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
    lock = threading.Lock()
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def _send(self, code, obj):
            b = json.dumps(obj).encode()
            self.send_response(code); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(b)))
            self.end_headers(); self.wfile.write(b)
        def do_GET(self):
            if self.path.rstrip('/') in ('/v1/models', '/models'): self._send(200, {'object': 'list', 'data': [{'id': model_name, 'object': 'model'}]})
            else: self._send(404, {'error': {'message': f'no route {self.path}'}})
        def do_POST(self):
            if self.path.rstrip('/') not in ('/v1/chat/completions', '/chat/completions'): return self._send(404, {'error': {'message': f'no route {self.path}'}})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))
                msgs, images = from_openai_messages(body['messages'])
                s = dict(temperature=float(body.get('temperature', 1.0)), top_p=float(body.get('top_p', 1.0)),
                         top_k=int(body.get('top_k', 0) or 0), max_new_tokens=int(body.get('max_tokens') or default_max_tokens), seed=body.get('seed'))
            except Exception as e: return self._send(400, {'error': {'message': f'bad request: {e}'}})
            with lock: text = backend.generate([(msgs, images)], s)[0]
            self._send(200, {'id': f'chatcmpl-{time.time_ns()}', 'object': 'chat.completion', 'created': int(time.time()), 'model': body.get('model', model_name),
                             'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}]})
    return ThreadingHTTPServer((host, port), Handler)

def serve_chat(server, max_requests: int | None = None):
    "Serve until shut down, or answer at most `max_requests` requests."
    if max_requests is None: return server.serve_forever()
    for _ in range(max_requests): server.handle_request()



class AnswerKey:
    "A backend that knows the rows' answers and writes them in convention `conv`: a model with that coordinate habit."
    name = 'answer-key'
    def __init__(self, rows, conv, bare: bool = False):
        from rft_nb.schema import to_pil
        from rft_nb.coords import BoxConvention
        from rft_nb.families import ModelView, get_family
        c = BoxConvention.parse(conv)
        self.view = ModelView(get_family('qwen2-vl'), c, False, c)
        self.by_image = {to_pil(r['images'][0]).tobytes(): r for r in rows}   # PNG over the wire: the pixels come back unchanged
        self.bare, self.asked = bare, 0
    def generate(self, prompts, sampling) -> list[str]:
        from rft_nb.rows import render_for_model
        out = []
        for _, images in prompts:
            self.asked += 1
            r = self.by_image.get(images[0].tobytes()) if images else None
            if r is None: out.append("I cannot see that image.")
            else:
                a = render_for_model(r, self.view)['answer']
                out.append(a if self.bare else f"<think>I found it.</think>\n<answer>{a}</answer>")
        return out
