"""RELAX speed: `sslxai.relax.relax` (batched masks, streamed Welford) against a per-mask Python loop with the same masks.

usage: python benchmarks/relax_bench.py [--n-masks 128] [--n-img 1,4] [--reps 3] [--threads 1,2] [--grid] [--quick]

Peers, all with the same masks and the same encoder, in one run:
- `relax`            sslxai: masks made in batches on the device, N*mask_bs images per encoder call, per-batch
                     Welford (Chan) merge of the statistics, channels_last; `relax_amp`: the same under bf16 autocast;
- `authors_loop`     the structure of the authors' code (`relax_xai`): batched encoder calls, then a Python loop over
                     the masks for the Welford update;
- `per_mask_loop`    `sslxai.relax.relax_reference`: one encoder call per mask (all N images), per-mask update.
`--grid` also runs the grid-size study of nbs/60_relax.ipynb at full size (results/relax_grid.json).
Figures go to benchmarks/results/relax.json and relax.md.
"""
import argparse, json, os, platform, statistics, time, datetime
from pathlib import Path
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import torchvision
from sslxai.core import tiny_densenet, has_real_data, data_path
from sslxai.relax import relax, relax_reference, relax_masks, cosine_sim, _embed, _evaluating, RegionEncoder

RES = Path(__file__).resolve().parent/'results'

@torch.no_grad()
def authors_loop(encoder, x, masks):
    "Batched encoder calls, per-mask Welford update in Python (the structure of the authors' `relax_xai.RELAX`)."
    N, C, H, W = x.shape
    with _evaluating(encoder):
        h0 = _embed(encoder, x)
        R = torch.zeros(N, H, W, dtype=torch.float64); M2 = torch.zeros_like(R); Wt = torch.zeros(H, W, dtype=torch.float64)
        for mb in masks:
            B = len(mb)
            h = _embed(encoder, (x[:, None]*mb[None, :, None]).reshape(N*B, C, H, W)).reshape(N, B, -1)
            s = cosine_sim(h0[:, None].expand_as(h), h).double()              # [N, B]
            for b in range(B):
                m = mb[b].double(); Wt = Wt + m; Rp = R
                sb = s[:, b, None, None]
                R = R + m*(sb - R)/Wt.clamp_min(1e-300)
                M2 = M2 + (sb - R)*(sb - Rp)*m
    return R.float(), (M2/Wt.clamp_min(1e-300)).float()

def body_pool(features): return nn.Sequential(features, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

def encoders(quick):
    torch.manual_seed(0)
    enc = {'tiny_densenet body (28k params)': body_pool(tiny_densenet().features)}
    if not quick:
        r18 = torchvision.models.resnet18()
        enc['resnet18 body (11M params)'] = nn.Sequential(*list(r18.children())[:-1], nn.Flatten())
    return {k: v.eval() for k, v in enc.items()}

def timeit(fns:dict, reps:int, once=()):
    "Median wall and CPU seconds of each function; reps interleaved so that load changes hit all alike."
    t, c, out = {k: [] for k in fns}, {k: [] for k in fns}, {}
    for r in range(reps):
        for k, f in fns.items():
            if r > 0 and k in once: continue
            c0 = time.process_time(); t0 = time.perf_counter(); out[k] = f()
            t[k].append(time.perf_counter() - t0); c[k].append(time.process_time() - c0)
    return out, {k: statistics.median(v) for k, v in t.items()}, {k: statistics.median(v) for k, v in c.items()}

def speed(n_masks, n_imgs, mask_bs, reps, quick):
    masks = list(relax_masks(n_masks, (96, 96), grid=6, seed=0, mask_bs=mask_bs))
    rows = []
    for name, enc in encoders(quick).items():
        for n_img in n_imgs:
            x = torch.randn(n_img, 3, 96, 96, generator=torch.Generator().manual_seed(0))
            relax(enc, x, masks=masks[:1]); relax(enc, x, masks=masks[:1], amp=True); relax_reference(enc, x, masks[:1])
            fns = {'per_mask_loop': lambda: relax_reference(enc, x, masks),
                   'authors_loop': lambda: authors_loop(enc, x, masks),
                   'relax': lambda: relax(enc, x, masks=masks),
                   'relax_amp': lambda: relax(enc, x, masks=masks, amp=True)}
            out, t, c = timeit(fns, reps, once=('per_mask_loop',))
            R, U = out['per_mask_loop']
            row = dict(encoder=name, threads=torch.get_num_threads(), n_img=n_img, n_masks=n_masks, mask_bs=mask_bs,
                       **{f'{k}_s': v for k, v in t.items()}, **{f'{k}_cpu_s': v for k, v in c.items()},
                       speedup=t['per_mask_loop']/t['relax'], speedup_amp=t['per_mask_loop']/t['relax_amp'],
                       speedup_vs_authors=t['authors_loop']/t['relax'],
                       cpu_speedup=c['per_mask_loop']/c['relax'], cpu_speedup_amp=c['per_mask_loop']/c['relax_amp'],
                       max_abs_diff_R=(out['relax'].importance - R).abs().max().item(),
                       max_abs_diff_U=(out['relax'].uncertainty - U).abs().max().item(),
                       max_abs_diff_R_authors=(out['authors_loop'][0] - R).abs().max().item(),
                       max_abs_diff_R_amp=(out['relax_amp'].importance - R).abs().max().item(),
                       R_span=(R.amax((1, 2)) - R.amin((1, 2))).min().item())
            rows.append(row)
            print(f"{name}, {row['threads']} threads, {n_img} image(s) x {n_masks} masks: per-mask loop {t['per_mask_loop']:.2f} s, "
                  f"authors' loop {t['authors_loop']:.2f} s, relax {t['relax']:.2f} s ({row['speedup']:.1f}x), "
                  f"relax amp {t['relax_amp']:.2f} s ({row['speedup_amp']:.1f}x); CPU-time speed-up {row['cpu_speedup']:.1f}x / "
                  f"{row['cpu_speedup_amp']:.1f}x; max |dR| {row['max_abs_diff_R']:.1e} (amp {row['max_abs_diff_R_amp']:.1e}, "
                  f"maps span >= {row['R_span']:.1e})", flush=True)
    return rows

# ---- grid-size study (same design as nbs/60_relax.ipynb, larger) ----
def real_patches(n_per_class):
    from PIL import Image
    root = data_path('pcam-subset', 'valid')
    fs = [f for c in ('1', '0') for f in sorted((root/c).glob('*.jpg'))[:n_per_class]]
    xb = torch.tensor(np.stack([np.asarray(Image.open(f).convert('RGB')) for f in fs])).permute(0, 3, 1, 2).float()/255
    return (xb - xb.mean((0, 2, 3), keepdim=True)) / xb.std((0, 2, 3), keepdim=True)

def grid_study(grids=(2, 3, 4, 5, 6, 7, 8, 10, 12, 16), sizes=(12, 16, 24, 32, 48), n_cases=4, n_masks=256, n_per_class=4):
    xb = real_patches(n_per_class)
    rng = np.random.default_rng(0)
    cases = []
    for s in sizes:
        for _ in range(n_cases):
            y, x = rng.integers(0, 96 - s, 2); w = torch.zeros(96, 96); w[y:y+s, x:x+s] = 1; cases.append((s, w))
    tab = {}
    for g in grids:
        for j, (s, w) in enumerate(cases):
            r = relax(RegionEncoder(w, seed=j), xb, n_masks=n_masks, mask_bs=128, grid=g, seed=1)
            k = int(w.sum())
            tab.setdefault(g, {}).setdefault(s, []).extend(
                w.flatten()[r.importance[i].flatten().topk(k).indices].mean().item() for i in range(len(xb)))
        tab[g] = {s: float(np.mean(v)) for s, v in tab[g].items()}
        tab[g]['mean'] = float(np.mean([tab[g][s] for s in sizes]))
        print(f"grid {g:2d} (cells of {-(-96//g)} px): " + ', '.join(f"{s} px {tab[g][s]:.2f}" for s in sizes)
              + f", mean {tab[g]['mean']:.2f}", flush=True)
    return dict(grids=list(grids), sizes=list(sizes), n_cases=n_cases, n_masks=n_masks, n_images=len(xb),
                metric='share of the k most important pixels inside the window, k = window area', table=tab)

def machine():
    return dict(date=datetime.date.today().isoformat(), platform=platform.platform(), processor=platform.processor(),
                torch=torch.__version__, threads=torch.get_num_threads(), cuda=torch.cuda.is_available(),
                cpu_count=os.cpu_count(), loadavg_at_start=[round(v, 1) for v in os.getloadavg()],
                OMP_WAIT_POLICY=os.environ.get('OMP_WAIT_POLICY'), OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-masks', type=int, default=128); p.add_argument('--n-img', default='1,4', help='images per call, e.g. 1,4')
    p.add_argument('--mask-bs', type=int, default=32); p.add_argument('--reps', type=int, default=3)
    p.add_argument('--threads', default='1,2', help='torch threads to time with, e.g. 1,2 (the default of this machine: 2)')
    p.add_argument('--grid', action='store_true', help='also run the grid-size study')
    p.add_argument('--quick', action='store_true', help='tiny encoder only')
    a = p.parse_args()
    RES.mkdir(parents=True, exist_ok=True)
    m = machine(); print(m)
    rows = []
    for nt in map(int, a.threads.split(',')):
        torch.set_num_threads(nt)
        rows += speed(a.n_masks, [int(v) for v in a.n_img.split(',')], a.mask_bs, a.reps, a.quick)
    torch.set_num_threads(m['threads'])
    m['loadavg_at_end'] = [round(v, 1) for v in os.getloadavg()]
    (RES/'relax.json').write_text(json.dumps(dict(machine=m, rows=rows), indent=1))
    md = [f"# RELAX speed, {m['date']}", "",
          f"{m['platform']}, torch {m['torch']}, {m['cpu_count']} cores, {'CUDA available' if m['cuda'] else 'no GPU'}; "
          f"load average {m['loadavg_at_start'][0]} at start and {m['loadavg_at_end'][0]} at end (other jobs shared the cores); "
          f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}.", "",
          f"Median wall time of {a.reps} interleaved runs (the per-mask loop: one run), {rows[0]['n_masks']} masks (grid 6), "
          f"mask_bs {rows[0]['mask_bs']}, the same masks for all. per-mask loop = `relax_reference` (one encoder call per mask, "
          "all images in it); authors' loop = batched encoder calls + a per-mask Welford loop (the structure of `relax_xai`); "
          "relax = `sslxai.relax.relax` (fp32, channels_last); amp = the same under bf16 autocast.", "",
          "| encoder | threads | images | per-mask loop (s) | authors' loop (s) | relax (s) | relax amp (s) | speed-up | speed-up amp | max abs diff R (amp) |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['encoder']} | {r['threads']} | {r['n_img']} | {r['per_mask_loop_s']:.2f} | {r['authors_loop_s']:.2f} | "
           f"{r['relax_s']:.2f} | {r['relax_amp_s']:.2f} | {r['speedup']:.1f}x | {r['speedup_amp']:.1f}x | "
           f"{r['max_abs_diff_R']:.0e} ({r['max_abs_diff_R_amp']:.0e}) |" for r in rows]
    (RES/'relax.md').write_text('\n'.join(md) + '\n')
    if a.grid:
        if not has_real_data(): raise SystemExit('the grid study needs the real PCam patches (SSLXAI_DATA)')
        t = time.perf_counter(); gs = grid_study(); gs['seconds'] = time.perf_counter() - t
        (RES/'relax_grid.json').write_text(json.dumps(dict(machine=m, **gs), indent=1))
        sz = gs['sizes']
        md = [f"# RELAX grid size for 96 px patches ({m['date']})", "", f"{gs['metric']}; {gs['n_images']} real PCam patches, "
              f"{gs['n_cases']} random windows per size, {gs['n_masks']} masks.", "",
              "| grid (cell px) | " + " | ".join(f"{s} px" for s in sz) + " | mean |", "|---" * (len(sz) + 2) + "|"]
        md += [f"| {g} ({-(-96//g)}) | " + " | ".join(f"{gs['table'][g][s]:.2f}" for s in sz) + f" | {gs['table'][g]['mean']:.2f} |"
               for g in gs['grids']]
        (RES/'relax_grid.md').write_text('\n'.join(md) + '\n')

if __name__ == '__main__': main()
