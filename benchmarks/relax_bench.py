"""RELAX speed: `sslxai.relax.relax` (batched masks, streamed Welford) against a per-mask Python loop with the same masks.

usage: python benchmarks/relax_bench.py [--n-masks 128] [--n-img 1,4] [--reps 3] [--threads 1,2] [--grid] [--quick]
                                       [--cost] [--skip-speed] [--out DIR]

Peers, all with the same masks and the same encoder, in one run:
- `relax`            sslxai: masks made in batches on the device, N*mask_bs images per encoder call, per-batch
                     Welford (Chan) merge of the statistics, channels_last; `relax_amp`: the same under bf16 autocast;
- `authors_loop`     the structure of the authors' code (`relax_xai`): batched encoder calls, then a Python loop over
                     the masks for the Welford update;
- `per_mask_loop`    `sslxai.relax.relax_reference`: one encoder call per mask (all N images), per-mask update.
`--cost` also measures what RELAX's default costs: 2,000 masks of one 96 px image on the tiny encoder, fp32, for
several `mask_bs`, against the per-mask loop and bf16 autocast (`amp=True`), and the path for many images (several
images per call); results/relax_cost.json and .md.
`--grid` also runs the grid-size study of nbs/60_relax.ipynb at full size (results/relax_grid.json).
Figures go to benchmarks/results/relax.json and relax.md (or the folder given by `--out`). Every figure is reported
with `torch.backends.cpu.get_cpu_capability()` (e.g. AVX2, AVX512): bf16 autocast pays only on hardware with bf16
arithmetic, and is several times slower on a CPU without it.
"""
import argparse, json, os, platform, statistics, time, datetime
from pathlib import Path
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import torchvision
from sslxai.core import tiny_densenet, has_real_data, data_path
from sslxai.relax import relax, relax_reference, relax_masks, _embed, _evaluating, RegionEncoder

RES = Path(__file__).resolve().parent/'results'

def cpu_capability() -> str:
    "The SIMD level torch's CPU kernels use here (DEFAULT, AVX2, AVX512, ...): bf16 runs natively only with AVX512-BF16/AMX."
    return torch.backends.cpu.get_cpu_capability()

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
            s = F.cosine_similarity(h0[:, None].expand_as(h), h, dim=-1).double()   # [N, B]
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
            row = dict(encoder=name, cpu_capability=cpu_capability(), threads=torch.get_num_threads(), n_img=n_img, n_masks=n_masks, mask_bs=mask_bs,
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
            print(f"[{row['cpu_capability']}] {name}, {row['threads']} threads, {n_img} image(s) x {n_masks} masks: per-mask loop {t['per_mask_loop']:.2f} s, "
                  f"authors' loop {t['authors_loop']:.2f} s, relax {t['relax']:.2f} s ({row['speedup']:.1f}x), "
                  f"relax amp {t['relax_amp']:.2f} s ({row['speedup_amp']:.1f}x); CPU-time speed-up {row['cpu_speedup']:.1f}x / "
                  f"{row['cpu_speedup_amp']:.1f}x; max |dR| {row['max_abs_diff_R']:.1e} (amp {row['max_abs_diff_R_amp']:.1e}, "
                  f"maps span >= {row['R_span']:.1e})", flush=True)
    return rows

# ---- the cost of RELAX's default: 2,000 masks ----
def cost(n_masks=2000, n_imgs=(1, 4, 16), mask_bss=(32, 64, 128), reps=3, max_images_for_reps=8000):
    "Wall and CPU seconds of `relax` with `n_masks` masks of 96 px images on the tiny encoder, per call and per image."
    name, enc = next(iter(encoders(quick=True).items()))
    cap, rows = cpu_capability(), []
    for n_img in n_imgs:
        x = torch.randn(n_img, 3, 96, 96, generator=torch.Generator().manual_seed(0))
        relax(enc, x, n_masks=8); relax(enc, x, n_masks=8, amp=True)           # warm-up
        fns = {('relax', bs): (lambda bs=bs: relax(enc, x, n_masks=n_masks, mask_bs=bs)) for bs in mask_bss}
        if n_img == 1:   # the peers, once each: they are slow
            fns[('relax amp', mask_bss[0])] = lambda: relax(enc, x, n_masks=n_masks, mask_bs=mask_bss[0], amp=True)
            fns[('per-mask loop', 1)] = lambda: relax_reference(enc, x, relax_masks(n_masks, (96, 96), seed=0, mask_bs=64))
        r = reps if n_img*n_masks <= max_images_for_reps else 1
        out, t, c = timeit(fns, r, once=[k for k in fns if k[0] != 'relax'])
        ref = out[('relax', mask_bss[0])].importance
        for (method, bs), f in fns.items():
            o = out[(method, bs)]
            imp = o[0] if isinstance(o, tuple) else o.importance
            row = dict(encoder=name, cpu_capability=cap, threads=torch.get_num_threads(), n_img=n_img, n_masks=n_masks,
                       method=method, mask_bs=bs, images_per_call=n_img*bs, runs=1 if method != 'relax' else r,
                       wall_s=t[(method, bs)], cpu_s=c[(method, bs)], wall_per_image_s=t[(method, bs)]/n_img,
                       cpu_per_image_s=c[(method, bs)]/n_img, forwards_per_s=n_img*n_masks/t[(method, bs)],
                       max_abs_diff_R=(imp - ref).abs().max().item())
            rows.append(row)
            print(f"[{cap}] {name}, {row['threads']} thread(s), {n_img} image(s) x {n_masks} masks, {method}, mask_bs {bs} "
                  f"({row['images_per_call']} images per call): {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} s CPU, "
                  f"{row['wall_per_image_s']:.2f} s per image, {row['forwards_per_s']:.0f} masked images/s; "
                  f"max |dR| vs relax fp32 {row['max_abs_diff_R']:.1e}", flush=True)
    return rows

def cost_md(m, rows):
    md = [f"# RELAX cost at the default n_masks, {m['date']}", "",
          f"CPU capability **{m['cpu_capability']}** (`torch.backends.cpu.get_cpu_capability()`); {m['platform']}, "
          f"torch {m['torch']}, {m['cpu_count']} cores, {'CUDA available' if m['cuda'] else 'no GPU'}; load average "
          f"{m['loadavg_at_start'][0]} at start and {m['loadavg_at_end'][0]} at end; OMP_NUM_THREADS={m['OMP_NUM_THREADS']}.", "",
          "Tiny encoder (`tiny_densenet` body + ReLU + average pooling), 96 px images, grid 6, seed 0. Wall and process CPU "
          "seconds, median of `runs` interleaved runs. `relax amp` is bf16 autocast; the per-mask loop is `relax_reference`. "
          "max |dR|: largest difference of the importance from `relax` fp32 with the first mask_bs.", "",
          "| CPU capability | threads | images | masks | method | mask_bs | images per call | runs | wall (s) | CPU (s) | wall per image (s) | masked images / s | max abs dR |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['cpu_capability']} | {r['threads']} | {r['n_img']} | {r['n_masks']} | {r['method']} | {r['mask_bs']} | "
           f"{r['images_per_call']} | {r['runs']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['wall_per_image_s']:.2f} | "
           f"{r['forwards_per_s']:.0f} | {r['max_abs_diff_R']:.0e} |" for r in rows]
    return '\n'.join(md) + '\n'

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
                cpu_capability=cpu_capability(), cpu_count=os.cpu_count(), loadavg_at_start=[round(v, 1) for v in os.getloadavg()],
                OMP_WAIT_POLICY=os.environ.get('OMP_WAIT_POLICY'), OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n-masks', type=int, default=128); p.add_argument('--n-img', default='1,4', help='images per call, e.g. 1,4')
    p.add_argument('--mask-bs', type=int, default=32); p.add_argument('--reps', type=int, default=3)
    p.add_argument('--threads', default='1,2', help='torch threads to time with, e.g. 1,2 (the default of this machine: 2)')
    p.add_argument('--grid', action='store_true', help='also run the grid-size study')
    p.add_argument('--quick', action='store_true', help='tiny encoder only')
    p.add_argument('--cost', action='store_true', help="also measure 2,000 masks (RELAX's default) on the tiny encoder")
    p.add_argument('--cost-n-img', default='1,4,16', help='images per call in the cost study')
    p.add_argument('--cost-mask-bs', default='32,64,128', help='mask_bs values in the cost study')
    p.add_argument('--skip-speed', action='store_true', help='skip the speed comparison (e.g. with --cost)')
    p.add_argument('--out', default=str(RES), help='folder for the results (default: benchmarks/results)')
    a = p.parse_args()
    res = Path(a.out); res.mkdir(parents=True, exist_ok=True)
    m = machine(); print(m)
    if a.cost:
        torch.set_num_threads(int(a.threads.split(',')[0]))
        crows = cost(n_imgs=[int(v) for v in a.cost_n_img.split(',')], mask_bss=[int(v) for v in a.cost_mask_bs.split(',')],
                     reps=a.reps)
        torch.set_num_threads(m['threads'])
        mc = dict(m, loadavg_at_end=[round(v, 1) for v in os.getloadavg()])
        (res/'relax_cost.json').write_text(json.dumps(dict(machine=mc, rows=crows), indent=1))
        (res/'relax_cost.md').write_text(cost_md(mc, crows))
    if not a.skip_speed: write_speed(a, m, res)
    if a.grid: write_grid(m, res)

def write_speed(a, m, res):
    rows = []
    for nt in map(int, a.threads.split(',')):
        torch.set_num_threads(nt)
        rows += speed(a.n_masks, [int(v) for v in a.n_img.split(',')], a.mask_bs, a.reps, a.quick)
    torch.set_num_threads(m['threads'])
    m = dict(m, loadavg_at_end=[round(v, 1) for v in os.getloadavg()])
    (res/'relax.json').write_text(json.dumps(dict(machine=m, rows=rows), indent=1))
    md = [f"# RELAX speed, {m['date']}", "",
          f"CPU capability **{m['cpu_capability']}** (`torch.backends.cpu.get_cpu_capability()`); "
          f"{m['platform']}, torch {m['torch']}, {m['cpu_count']} cores, {'CUDA available' if m['cuda'] else 'no GPU'}; "
          f"load average {m['loadavg_at_start'][0]} at start and {m['loadavg_at_end'][0]} at end (other jobs shared the cores); "
          f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}.", "",
          f"Median wall time of {a.reps} interleaved runs (the per-mask loop: one run), {rows[0]['n_masks']} masks (grid 6), "
          f"mask_bs {rows[0]['mask_bs']}, the same masks for all. per-mask loop = `relax_reference` (one encoder call per mask, "
          "all images in it); authors' loop = batched encoder calls + a per-mask Welford loop (the structure of `relax_xai`); "
          "relax = `sslxai.relax.relax` (fp32, channels_last); amp = the same under bf16 autocast.", "",
          "| CPU capability | encoder | threads | images | per-mask loop (s) | authors' loop (s) | relax (s) | relax amp (s) | speed-up | speed-up amp | max abs diff R (amp) |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['cpu_capability']} | {r['encoder']} | {r['threads']} | {r['n_img']} | {r['per_mask_loop_s']:.2f} | {r['authors_loop_s']:.2f} | "
           f"{r['relax_s']:.2f} | {r['relax_amp_s']:.2f} | {r['speedup']:.1f}x | {r['speedup_amp']:.1f}x | "
           f"{r['max_abs_diff_R']:.0e} ({r['max_abs_diff_R_amp']:.0e}) |" for r in rows]
    (res/'relax.md').write_text('\n'.join(md) + '\n')

def write_grid(m, res):
    if not has_real_data(): raise SystemExit('the grid study needs the real PCam patches (SSLXAI_DATA)')
    t = time.perf_counter(); gs = grid_study(); gs['seconds'] = time.perf_counter() - t
    (res/'relax_grid.json').write_text(json.dumps(dict(machine=m, **gs), indent=1))
    sz = gs['sizes']
    md = [f"# RELAX grid size for 96 px patches ({m['date']})", "", f"{gs['metric']}; {gs['n_images']} real PCam patches, "
          f"{gs['n_cases']} random windows per size, {gs['n_masks']} masks.", "",
          "| grid (cell px) | " + " | ".join(f"{s} px" for s in sz) + " | mean |", "|---" * (len(sz) + 2) + "|"]
    md += [f"| {g} ({-(-96//g)}) | " + " | ".join(f"{gs['table'][g][s]:.2f}" for s in sz) + f" | {gs['table'][g]['mean']:.2f} |"
           for g in gs['grids']]
    (res/'relax_grid.md').write_text('\n'.join(md) + '\n')

if __name__ == '__main__': main()
