"""Reward speed: median µs per typical completion, detection 50x50 vs a naive per-box loop, 1k vs 10k batch scaling.

Usage: python benchmarks/rewards_bench.py [--quick]
"""
import argparse, gc, random, statistics, sys, time

import rft_nb.hardened_rewards as H
import rft_nb.mathverify as M
from rft_nb.geometry import match_boxes, match_boxes_loop
from rft_nb.rewards import REWARDS

CLASSES = ['moon orchid|phalaenopsis', 'rose', 'desert rose|adenium', 'tulip', 'sunflower', 'daisy', 'lotus', 'magnolia'] * 13  # ~100 classes
THINK = '<think>' + 'I look at the image and compare the shapes and colours carefully. ' * 4 + '</think>'


def _det_answer(boxes, rng):
    return '[' + ', '.join(f"{{'Position': {[int(v) for v in b]}, 'Confidence': {rng.randint(50, 99) / 100}}}" for b in boxes) + ']'


def _boxes(rng, n):
    out = []
    for _ in range(n):
        x, y = rng.randint(0, 850), rng.randint(0, 850)
        out.append([x, y, x + rng.randint(20, 150), y + rng.randint(20, 150)])
    return out


def typical_cases(rng):
    "(completions, kwargs) per reward: 8 varied, realistic completions of one prompt (G = 8)."
    gt = _boxes(rng, 3)
    det_sol = '<answer>' + _det_answer(gt, rng).replace('0.', '1.') + '</answer>'
    det_c = [THINK + '<answer>' + _det_answer([[v + rng.randint(-15, 15) for v in b] for b in gt[: rng.randint(1, 3)]] + _boxes(rng, rng.randint(0, 2)), rng) + '</answer>' for _ in range(8)]
    det_kw = dict(solution=det_sol, boxes=[[v * 0.64 if i % 2 == 0 else v * 0.48 for i, v in enumerate(b)] for b in gt], image_size=[640, 480], box_convention='norm1000', task='detection')
    g = gt[0]
    gr_sol = f'<answer>({g[0]},{g[1]}),({g[2]},{g[3]})</answer>'
    gr_c = [THINK + f'<answer>({g[0] + rng.randint(-20, 20)},{g[1] + rng.randint(-20, 20)}),({g[2] + rng.randint(-20, 20)},{g[3] + rng.randint(-20, 20)})</answer>' for _ in range(8)]
    gr_kw = dict(solution=gr_sol, boxes=[[g[0] * 0.64, g[1] * 0.48, g[2] * 0.64, g[3] * 0.48]], image_size=[640, 480], box_convention='norm1000', task='grounding')
    names = [c.split('|')[0] for c in CLASSES[:8]]
    cls_c = [THINK + f'<answer>{rng.choice(names)}</answer>' for _ in range(8)]
    cls_kw = dict(solution='<answer>moon orchid</answer>', category='moon orchid', classes=CLASSES, task='classification')
    cnt_c = [THINK + f'<answer>{rng.randint(2, 6)}</answer>' for _ in range(8)]
    cnt_kw = dict(solution='<answer>4</answer>', task='counting')
    ch_c = [THINK + f'<answer>{rng.choice(["B", "(C)", "Answer: A", "14 cm", "D."])}</answer>' for _ in range(8)]
    ch_kw = dict(solution='<answer>C</answer>', options=['10 cm', '12 cm', '14 cm', '16 cm'], task='geometry')
    m_opts = ['12', '12.5', '13', '6*2', '\\frac{25}{2}']
    m_c = [THINK + '<answer>' + rng.choice(m_opts) + '</answer>' for _ in range(8)]
    m_kw = dict(solution='<answer>12.5</answer>', options=[], task='geometry')
    steps = ['change_color(0, red)', 'change_size(1, small)', 'change_shape(2, cube)', 'change_material(0, metal)', 'change_position(1, left)']
    tr_c = [THINK + '<answer>' + ', '.join(rng.sample(steps, rng.randint(1, 4))) + '</answer>' for _ in range(8)]
    tr_kw = dict(solution='<answer>' + ', '.join(steps[:3]) + '</answer>', task='trance')
    per = {
        'format': (cls_c, cls_kw), 'length': (cls_c, cls_kw), 'repetition_penalty': (cls_c, cls_kw),
        'visual_rft_iou': (det_c, det_kw), 'visual_rft_confidence': (det_c, det_kw), 'detection': (det_c, det_kw),
        'visual_rft_cls': (cls_c, cls_kw), 'classification': (cls_c, cls_kw),
        'visual_rft_giou': (gr_c, gr_kw), 'grounding': (gr_c, gr_kw),
        'reason_rft_accuracy': (cnt_c, cnt_kw), 'reason_rft_tolerance': (cnt_c, cnt_kw), 'counting': (cnt_c, cnt_kw),
        'counting_tolerance': (cnt_c, cnt_kw),
        'math': (m_c, m_kw), 'choice': (ch_c, ch_kw),
        'trance_partial': (tr_c, tr_kw), 'trance_exact': (tr_c, tr_kw), 'trance': (tr_c, tr_kw), 'trance_all_steps': (tr_c, tr_kw),
    }
    assert set(per) == set(REWARDS), set(REWARDS) ^ set(per)
    return per


def batch(comps, kw, n):
    "n completions (cycled) with their kwargs columns, as TRL passes them."
    cs = [comps[i % len(comps)] for i in range(n)]
    return cs, {k: [v] * n for k, v in kw.items()}


def fresh():
    "Forget cached math-verify verdicts so repeated calls on the same completions cost what a new completion costs."
    M.clear_cache()


def median_us_per_completion(f, comps, kw, reps):
    "Median over reps of (time of a G-completion call / G), in µs; per-completion caches cleared each rep."
    cs, cols = batch(comps, kw, len(comps))
    f(cs, **cols)                                              # warm per-solution caches (solution parse, class index)
    ts = []
    for _ in range(reps):
        fresh()
        t = time.perf_counter(); f(cs, **cols); ts.append((time.perf_counter() - t) / len(cs))
    return statistics.median(ts) * 1e6


def timed(fn, reps, stat=statistics.median, collect=False):
    "`stat` (median, or min where other load on the machine adds noise) of `reps` wall times (optionally each after a gc)."
    ts = []
    for _ in range(reps):
        if collect: gc.collect()
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return stat(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='fewer repetitions, 500 vs 5k for the scaling test')
    args = ap.parse_args(argv)
    rng = random.Random(0)
    per = typical_cases(rng)
    reps = 20 if args.quick else 60
    small, big = (500, 5000) if args.quick else (1000, 10000)

    print(f"rft_nb rewards benchmark (python {sys.version.split()[0]})\n")
    print(f"{'reward':<22} {'µs/completion':>14} {'<200µs':>7} {f'{small} (s)':>9} {f'{big} (s)':>9} {'ratio':>6}")
    print(f"{'':<22} {'(median)':>14} {'':>7} {'(best of 5)':>9} {'(best of 3)':>9}")
    rows = []
    for name in sorted(REWARDS):
        f = REWARDS[name]; comps, kw = per[name]
        us = median_us_per_completion(f, comps, kw, reps)
        cs1, k1 = batch(comps, kw, small); cs2, k2 = batch(comps, kw, big)
        # distinct texts per completion (an index in the think part), so nothing per-completion is cached
        cs1 = [c.replace('<think>', f'<think>#{i} ', 1) for i, c in enumerate(cs1)]
        cs2 = [c.replace('<think>', f'<think>#{i} ', 1) for i, c in enumerate(cs2)]
        t1 = timed(lambda: (fresh(), f(cs1, **k1)), 5, min, True); t2 = timed(lambda: (fresh(), f(cs2, **k2)), 3, min, True)
        rows.append((name, us, t1, t2))
        print(f"{name:<22} {us:>14.1f} {'yes' if us < 200 else 'NO':>7} {t1:>9.3f} {t2:>9.3f} {t2 / t1:>6.2f}", flush=True)

    # detection with 50 predicted x 50 ground-truth boxes
    gts = _boxes(rng, 50)
    preds = [[v + rng.randint(-10, 10) for v in b] for b in gts[:25]] + _boxes(rng, 25)
    preds = [p if p[2] > p[0] and p[3] > p[1] else [p[0], p[1], p[0] + 9, p[1] + 9] for p in preds]
    rng.shuffle(preds)
    comp = '<answer>' + _det_answer(preds, rng) + '</answer>'
    sol = '<answer>' + _det_answer(gts, rng) + '</answer>'
    kw = dict(solution=[sol], task=['detection'])
    n = 30 if args.quick else 100
    t_fast = timed(lambda: REWARDS['detection']([comp], **kw), n)
    t_fast_min = timed(lambda: REWARDS['detection']([comp], **kw), n, min)
    t_match = timed(lambda: match_boxes(preds, gts), n, min)
    t_loop = timed(lambda: match_boxes_loop(preds, gts), n, min)
    orig = H.match_boxes
    try:
        H.match_boxes = match_boxes_loop                       # the same reward with the naive per-box loop
        t_naive = timed(lambda: REWARDS['detection']([comp], **kw), n)
        t_naive_min = timed(lambda: REWARDS['detection']([comp], **kw), n, min)
    finally:
        H.match_boxes = orig
    t_paper = timed(lambda: (fresh(), REWARDS['visual_rft_iou']([comp], **kw)), max(5, n // 5))
    assert match_boxes(preds, gts) == match_boxes_loop(preds, gts)
    print(f"\ndetection, 50 predicted x 50 ground-truth boxes ({n} runs, same process):        median      best")
    print(f"  `detection` reward, whole completion        {t_fast * 1e3:8.3f} ms {t_fast_min * 1e3:8.3f} ms   ({'<2 ms' if t_fast < 2e-3 else 'OVER 2 ms'})")
    print(f"  same reward with the naive per-box loop     {t_naive * 1e3:8.3f} ms {t_naive_min * 1e3:8.3f} ms")
    print(f"  greedy matching only: numpy match_boxes     {'':>11} {t_match * 1e3:8.3f} ms")
    print(f"  greedy matching only: per-box Python loop   {'':>11} {t_loop * 1e3:8.3f} ms   (x{t_loop / t_match:.1f})")
    print(f"  `visual_rft_iou` (paper code path, incl. math-verify shortcut) {t_paper * 1e3:8.3f} ms")
    comps, kw = per['visual_rft_iou']
    cs, cols = batch(comps, kw, len(comps))
    def pair():
        fresh(); REWARDS['visual_rft_iou'](cs, **cols); REWARDS['visual_rft_confidence'](cs, **cols)
    t_pair = timed(pair, reps) / len(cs)
    print(f"\nvisual_rft_iou + visual_rft_confidence on the same completions, as TRL calls them: {t_pair * 1e6:.1f} µs/completion for both"
          " (the math-verify verdict is computed once and cached for the second)")

    # the paper variants' math-verify step alone: our exact fast path vs math-verify's own parse + verify (their code), same completions
    from math_verify import parse, verify
    sol = kw['solution']
    def theirs(c):
        try: return float(verify(parse(c), parse(sol))) > 0
        except Exception: return False
    verdicts = [theirs(c) for c in cs]
    assert [M.math_verify_shortcut_uncached(c, sol) for c in cs] == verdicts
    t_ours = timed(lambda: [M.math_verify_shortcut_uncached(c, sol) for c in cs], reps) / len(cs)
    t_parse = timed(lambda: [M.fast_parse(c, 5) for c in cs], reps) / len(cs)
    t_theirs = timed(lambda: [theirs(c) for c in cs], max(5, reps // 4)) / len(cs)
    t_their_parse = timed(lambda: [parse(c) for c in cs], max(5, reps // 4)) / len(cs)
    print(f"\nmath-verify step of the paper variants, {len(cs)} typical detection completions ({sum(verdicts)} verify, spuriously), same verdicts:")
    print(f"  ours (exact fast path)                      {t_ours * 1e6:8.1f} µs/completion   (parse of the completion {t_parse * 1e6:.1f} µs)")
    print(f"  math-verify parse + verify, as their code   {t_theirs * 1e6:8.1f} µs/completion   (parse of the completion {t_their_parse * 1e6:.1f} µs)")
    slow = [r[0] for r in rows if r[1] >= 200]
    nonlinear = [r[0] for r in rows if r[3] > 0.01 and r[3] / r[2] > 1.3 * big / small]   # ignore sub-10 ms totals (timer noise)
    print(f"\nover 200 µs/completion: {', '.join(slow) or 'none'}")
    print(f"superlinear (10x batch costs > {1.3 * big / small:.0f}x): {', '.join(nonlinear) or 'none'}")


if __name__ == '__main__':
    main()
