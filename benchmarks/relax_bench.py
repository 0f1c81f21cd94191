"""RELAX speed: `sslxai.relax.relax` (batched masks, streamed Welford) against a per-mask Python loop with the same masks.

usage: python benchmarks/relax_bench.py [--n-masks 128] [--n-img 4] [--reps 3] [--threads 1,2] [--grid] [--quick]

Peers, all with the same masks and the same encoder, in one run:
- `relax`            sslxai: masks made in batches on the device, N*mask_bs images per encoder call, per-batch
                     Welford (Chan) merge of the statistics;
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
from sslxai.relax import relax, relax_reference, relax_masks, cosine_sim, _embed, _evaluating

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

def timeit(f, reps):
    ts, cs = [], []
    for _ in range(reps):
        c = time.process_time(); t = time.perf_counter(); out = f()
        ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)
    return out, statistics.median(ts), statistics.median(cs)

def speed(n_masks, n_img, mask_bs, reps, quick):
    x = torch.randn(n_img, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    masks = list(relax_masks(n_masks, (96, 96), grid=6, seed=0, mask_bs=mask_bs))
    rows = []
    for name, enc in encoders(quick).items():
        relax(enc, x, masks=masks[:1]); relax_reference(enc, x, masks[:1])          # warm-up
        (r, t_fast, c_fast) = timeit(lambda: relax(enc, x, masks=masks), reps)
        (a, t_auth, c_auth) = timeit(lambda: authors_loop(enc, x, masks), reps)
        (p, t_loop, c_loop) = timeit(lambda: relax_reference(enc, x, masks), 1)         # slow: once
        err = max((r.importance - p[0]).abs().max().item(), (r.importance - a[0]).abs().max().item())
        errU = (r.uncertainty - p[1]).abs().max().item()
        row = dict(encoder=name, threads=torch.get_num_threads(), n_img=n_img, n_masks=n_masks, mask_bs=mask_bs,
                   relax_s=t_fast, authors_loop_s=t_auth, per_mask_loop_s=t_loop,
                   relax_cpu_s=c_fast, authors_loop_cpu_s=c_auth, per_mask_loop_cpu_s=c_loop,
                   speedup_vs_per_mask=t_loop/t_fast, speedup_vs_authors=t_auth/t_fast,
                   cpu_speedup_vs_per_mask=c_loop/c_fast,
                   max_abs_diff_importance=err, max_abs_diff_uncertainty=errU)
        rows.append(row)
        print(f"{name}, {torch.get_num_threads()} threads: relax {t_fast:.2f} s, authors' loop {t_auth:.2f} s, per-mask loop {t_loop:.2f} s -> "
              f"{row['speedup_vs_per_mask']:.1f}x vs per-mask loop (CPU time {row['cpu_speedup_vs_per_mask']:.1f}x), "
              f"{row['speedup_vs_authors']:.1f}x vs authors' loop; max |dR| {err:.1e}, max |dU| {errU:.1e}", flush=True)
    return rows

# ---- grid-size study (same design as nbs/60_relax.ipynb, larger) ----
class RegionEncoder(nn.Module):
    "A representation that depends (almost) only on the pixels inside `win` (see nbs/60_relax.ipynb)."
    def __init__(self, win, d=64, seed=0, bg=0.05):
        super().__init__(); gen = torch.Generator().manual_seed(seed)
        w = F.avg_pool2d(win[None, None].float(), 4)[0, 0]*(1 - bg) + bg
        self.register_buffer('win', w)
        self.register_buffer('proj', torch.randn(3*w.numel(), d, generator=gen) / (3*w.sum())**0.5)
    def forward(self, x): return torch.tanh((F.avg_pool2d(x, 4)*self.win).flatten(1) @ self.proj)

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
                cpu_count=os.cpu_count(), loadavg_at_start=[round(v, 1) for v in os.getloadavg()])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-masks', type=int, default=128); p.add_argument('--n-img', type=int, default=4)
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
        rows += speed(a.n_masks, a.n_img, a.mask_bs, a.reps, a.quick)
    torch.set_num_threads(m['threads'])
    m['loadavg_at_end'] = [round(v, 1) for v in os.getloadavg()]
    (RES/'relax.json').write_text(json.dumps(dict(machine=m, rows=rows), indent=1))
    md = [f"# RELAX speed ({m['date']}, {m['platform']}, torch {m['torch']}, {m['threads']} threads, "
          f"{'CUDA available' if m['cuda'] else 'CPU only'}, {m['cpu_count']} cores, load average "
          f"{m['loadavg_at_start'][0]} at start, {m['loadavg_at_end'][0]} at end: other jobs shared the cores)", "",
          "With 2 threads on a shared 2-core machine, OpenMP threads wait on each other at every small op, which slows "
          "the per-mask loop far more than the batched path: the 1-thread rows are the fairer comparison.", "",
          f"{rows[0]['n_img']} images 96x96, {rows[0]['n_masks']} masks (grid 6), mask_bs {rows[0]['mask_bs']}; "
          "median wall time; the same masks for all three.", "",
          "| encoder | threads | relax (s) | authors' loop (s) | per-mask loop (s) | speed-up vs per-mask | vs authors' | max abs diff R |",
          "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['encoder']} | {r['threads']} | {r['relax_s']:.2f} | {r['authors_loop_s']:.2f} | {r['per_mask_loop_s']:.2f} | "
           f"{r['speedup_vs_per_mask']:.1f}x | {r['speedup_vs_authors']:.1f}x | {r['max_abs_diff_importance']:.1e} |" for r in rows]
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
