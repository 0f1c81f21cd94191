"""Cost of the whole explanation evaluation (`sslxai.evaluate.evaluate_explanations`) per 100 images, and where the time goes.

usage: python benchmarks/eval_bench.py [--quick] [--n 100] [--steps 16] [--no-densenet169]

1. The whole table (every available explainer x the two default layers, all columns) on `n` synthetic positive patches
   with tiny_densenet (random weights: the cost does not depend on the weights), split by phase (maps, deletion/insertion,
   random baselines, localisation, randomisation, confidence, setup) and by row.
2. Peers in the same run, on the same images and maps:
   - the batched deletion curve of `sslxai.metrics` against a naive loop (one forward per image per step), the way
     deletion is often written;
   - the cost of deletion+insertion as `steps` grows (8, 16, 32);
   - one row (Grad-CAM at `features.norm5`) with DenseNet169 (random weights) instead of tiny_densenet, to show how
     the cost scales with the model: the perturbation forwards dominate.
Prints the figures and writes benchmarks/results/eval.json and eval.md.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, time
from pathlib import Path
import numpy as np
import torch

RES = Path(__file__).resolve().parent/'results'

def _load(): return round(os.getloadavg()[0], 2) if hasattr(os, 'getloadavg') else None

def whole(n, steps, n_synth):
    from sslxai.core import tiny_densenet, set_seed
    from sslxai.data import SynthSource
    from sslxai.evaluate import evaluate_explanations
    set_seed(0)
    m = tiny_densenet().eval()
    src = SynthSource(n_synth, seed=7)
    stats = ([0.5] * 3, [0.25] * 3)
    t = time.perf_counter()
    tab = evaluate_explanations(m, src, n=n, stats=stats, steps=steps, relax_kwargs=dict(n_masks=64))
    total = time.perf_counter() - t
    return total, tab

def naive_deletion(model, x, maps, steps, baseline):
    "One forward per image per step, batch 1: the loop the batched version replaces."
    import torch.nn.functional as F
    from sslxai.gradcam import upsample
    n, _, h, w = x.shape; P = h * w
    up = upsample(maps, (h, w)).flatten(1)
    out = np.zeros((n, steps + 1))
    with torch.no_grad():
        for i in range(n):
            order = torch.argsort(up[i], descending=True)
            for k in range(steps + 1):
                img = x[i].clone().flatten(1)
                idx = order[:round(k * P / steps)]
                img[:, idx] = baseline[i].flatten(1)[:, idx]
                out[i, k] = F.softmax(model(img.view(1, 3, h, w)), 1)[0, 1]
    return out

def _median_time(fns:dict, rounds=3) -> dict:
    "Median wall seconds of each function, interleaved round by round so that outside load hits all alike."
    ts = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter(); f(); ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in ts.items()}

def peers(steps, n_peer, with_densenet169, n_d169=8):
    from sslxai.core import tiny_densenet, set_seed
    from sslxai.metrics import deletion_curve, insertion_curve, make_baseline
    set_seed(0)
    m = tiny_densenet().eval()
    x = torch.randn(n_peer, 3, 96, 96); maps = torch.rand(n_peer, 3, 3)
    base = make_baseline(x, 'mean')
    r = _median_time({'batched': lambda: deletion_curve(m, x, maps, target=1, steps=steps),
                      'batched_contiguous': lambda: deletion_curve(m, x, maps, target=1, steps=steps, channels_last=False),
                      'naive': lambda: naive_deletion(m, x, maps, steps, base)})
    res = dict(batched_deletion_s=r['batched'], batched_contiguous_s=r['batched_contiguous'], naive_deletion_s=r['naive'],
               naive_over_batched=r['naive'] / r['batched'], contiguous_over_channels_last=r['batched_contiguous'] / r['batched'])
    res['steps'] = _median_time({s: (lambda s=s: (deletion_curve(m, x, maps, target=1, steps=s),
                                                  insertion_curve(m, x, maps, target=1, steps=s))) for s in (8, 16, 32)})
    if with_densenet169:
        from sslxai.train import create_model
        from sslxai.data import SynthSource
        from sslxai.evaluate import evaluate_explanations
        d = create_model('densenet169').eval()
        n_peer = n_d169
        src = SynthSource(4 * n_peer, seed=7)
        t = time.perf_counter()
        tab = evaluate_explanations(d, src, explainers=['gradcam'], layers=['features.norm5'], n=n_peer, n_ref=0,
                                    stats=([0.5] * 3, [0.25] * 3), steps=steps)
        res['densenet169_row_s'] = time.perf_counter() - t
        res['densenet169_n'] = n_peer
        res['densenet169_timings'] = {k: round(v, 3) for k, v in tab.attrs['timings'].items()}
    return res

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true', help='n=20, fewer peers (a smoke run)')
    ap.add_argument('--n', type=int, default=100)
    ap.add_argument('--steps', type=int, default=16)
    ap.add_argument('--no-densenet169', action='store_true')
    a = ap.parse_args()
    n = 20 if a.quick else a.n
    n_peer = 8 if a.quick else 20
    info = dict(date=datetime.date.today().isoformat(), machine=platform.platform(), processor=platform.processor(),
                python=platform.python_version(), torch=torch.__version__, threads=torch.get_num_threads(),
                cpus=os.cpu_count(), cuda=torch.cuda.is_available(), load_before=_load(), n=n, steps=a.steps,
                relax_n_masks=64, model='tiny_densenet (random weights)', layers='the two default layers')
    print(f"eval_bench {info['date']} on {info['machine']}, torch {info['torch']}, {info['threads']} threads, "
          f"load {info['load_before']}", flush=True)
    total, tab = whole(n, a.steps, n_synth=max(4 * (n + 16), 200))
    tim, cpu = tab.attrs['timings'], tab.attrs['cpu_timings']
    per100 = total * 100 / n
    print(f"\n1. whole evaluation: {len(tab)} rows ({', '.join(sorted(set(tab.explainer)))}), n={n}: {total:.1f} s "
          f"= {per100:.1f} s per 100 images ({per100 / len(tab):.2f} s per row per 100 images)")
    missing = tab.attrs.get('missing') or {}
    if missing: print('   missing explainers: ' + '; '.join(f"{k}: {v}" for k, v in missing.items()))
    for k, v in sorted(tim.items(), key=lambda kv: -kv[1]): print(f"   {k:<20} {v:7.2f} s wall  {100 * v / total:5.1f}%   {cpu[k]:7.2f} s CPU")
    rows = tab[['explainer', 'layer', 'map', 'seconds']].assign(per_100=lambda d: d.seconds * 100 / n)
    print(rows.round(2).to_string(index=False))
    print("\n2. peers", flush=True)
    p = peers(a.steps, n_peer, not a.no_densenet169)
    print(f"   deletion curve, {n_peer} images, steps={a.steps} (median of 3 interleaved rounds): batched {p['batched_deletion_s']:.2f} s, "
          f"batched without channels_last {p['batched_contiguous_s']:.2f} s, naive loop {p['naive_deletion_s']:.2f} s "
          f"({p['naive_over_batched']:.1f}x slower than batched)")
    print('   deletion+insertion vs steps: ' + ', '.join(f"{s}: {v:.2f} s" for s, v in p['steps'].items()))
    if 'densenet169_row_s' in p:
        print(f"   DenseNet169, one row (gradcam @ norm5), n={p['densenet169_n']}: {p['densenet169_row_s']:.1f} s = "
              f"{p['densenet169_row_s'] * 100 / p['densenet169_n']:.0f} s per 100 images; phases {p['densenet169_timings']}")
    info['load_after'] = _load()
    out = dict(info=info, whole=dict(total_s=total, per_100_images_s=per100, rows=len(tab), timings=tim, cpu_timings=cpu,
                                     missing=missing, per_row=rows.to_dict('records')), peers=p)
    RES.mkdir(exist_ok=True)
    (RES/'eval.json').write_text(json.dumps(out, indent=1, default=float))
    md = [f"# eval_bench ({info['date']}, {info['machine']}, {info['threads']} threads, CPU only={not info['cuda']}, "
          f"load {info['load_before']} -> {info['load_after']})", '',
          f"Whole evaluation (tiny_densenet, every available explainer at the two default layers, RELAX with 64 masks): "
          f"{len(tab)} rows, n={n} positives, steps={a.steps}: **{total:.1f} s, {per100:.1f} s per 100 images**.", '',
          '| phase | wall s | share | CPU s |', '|---|---|---|---|']
    md += [f"| {k} | {v:.2f} | {100 * v / total:.0f}% | {cpu[k]:.2f} |" for k, v in sorted(tim.items(), key=lambda kv: -kv[1])]
    md += ['', '| explainer | layer | map | s | s per 100 images |', '|---|---|---|---|---|']
    md += [f"| {r.explainer} | {r.layer} | {r.map} | {r.seconds:.2f} | {r.per_100:.1f} |" for r in rows.itertuples()]
    md += ['', f"Peers ({n_peer} images, median of 3 interleaved rounds): batched deletion {p['batched_deletion_s']:.2f} s "
           f"(without channels_last {p['batched_contiguous_s']:.2f} s) vs naive loop "
           f"{p['naive_deletion_s']:.2f} s ({p['naive_over_batched']:.1f}x); deletion+insertion by steps: " +
           ', '.join(f"{s}: {v:.2f} s" for s, v in p['steps'].items())]
    if 'densenet169_row_s' in p:
        md += ['', f"DenseNet169 one row (gradcam @ features.norm5), n={p['densenet169_n']}: {p['densenet169_row_s']:.1f} s "
               f"({p['densenet169_row_s'] * 100 / p['densenet169_n']:.0f} s per 100 images); phases: {p['densenet169_timings']}"]
    if missing: md += ['', 'Missing explainers: ' + '; '.join(f"{k}: {v}" for k, v in missing.items())]
    (RES/'eval.md').write_text('\n'.join(md) + '\n')
    print(f"\nwrote {RES/'eval.json'} and {RES/'eval.md'}")

if __name__ == '__main__': main()
