"""Training on 64 px crops that hold the centre 32x32 against training on the whole 96 px patch, at the same budget.

usage: python benchmarks/crop_bench.py [--epochs 3] [--n-tp 200] [--longer 64|0] [--quick]

The course recipe (`sslxai train --recipe course`) trains DenseNet169 on random 64 px crops that always contain PCam's
label region (`LabelCrop`, 0.44x the pixels of a 96 px patch). This script trains the same recipe twice on all of
PCam's train split in `$SSLXAI_DATA/pcam-subset` (same seed, epochs, batch, learning rate; the same number of training
images), once with the crop and once on whole 96 px patches (`--crop 0`), and measures on all of PCam's valid split
(other slides), at 96 px for both:
- accuracy and ROC AUC;
- Grad-CAM at `features.norm5` (3x3) and `features.denseblock3` (6x6) on `--n-tp` valid patches (a seeded draw) that
  every model calls tumour and that are tumour: the share of the map's mass in the centre 32x32 box and how often its
  peak falls there (chance 1/9 for both), with 95% bootstrap intervals.
`--longer 64` (or `--longer 0`, whole patches) adds that run with twice the epochs: what more budget buys.
The models are cached (`SSLXAI_CACHE`), so a second run only evaluates. Writes benchmarks/results/crop.json and crop.md.
`--quick` is a smoke test (a few hundred images, tiny_densenet); its numbers mean nothing.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, time
from pathlib import Path
import numpy as np
import torch

LAYERS = ('features.norm5', 'features.denseblock3')

def train(data, crop, epochs, quick):
    from sslxai.recipe import train_recipe, finish
    over = dict(crop=crop, epochs=epochs) if not quick else dict(crop=crop, epochs=1, arch='tiny_densenet', n=512)
    run = train_recipe(data, 'course', progress=False, **over)
    res = finish(run)
    from sslxai.train import load_model
    model, meta = load_model(run['final'])
    return model.eval(), meta, res

def centre_scores(model, meta, src, idxs, layer):
    from sslxai.train import to_input
    from sslxai.gradcam import GradCAM, upsample
    from sslxai.metrics import centre_box_mask, energy_in_mask, pointing_game
    from sslxai.evaluate import bootstrap_ci
    maps = []
    for i in range(0, len(idxs), 32):
        x, _ = src.get_batch(idxs[i:i+32])
        with GradCAM(model, layer) as cam: maps.append(cam(to_input(x, meta['stats']), targets=1))
    maps = torch.cat(maps); up = upsample(maps, 96)
    box = centre_box_mask(len(idxs))
    e, p = energy_in_mask(up, box), pointing_game(up, box)
    return dict(map=list(maps.shape[-2:]), energy=[round(v, 4) for v in bootstrap_ci(e)],
                pointing=[round(v, 4) for v in bootstrap_ci(p)])

def cam_cells(layer, g):
    "The table cells of one layer's `centre_scores`: layer (map), mass and peak in the centre box with their intervals."
    e, p = g['energy'], g['pointing']
    return f"`{layer}` ({g['map'][0]}x{g['map'][1]}) | {e[0]:.3f} [{e[1]:.3f}, {e[2]:.3f}] | {p[0]:.3f} [{p[1]:.3f}, {p[2]:.3f}]"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--n-tp', type=int, default=200)
    ap.add_argument('--longer', type=int, choices=(0, 64), default=None, help='also this crop (0: whole patches) with twice the epochs: what more budget buys')
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    if a.quick: a.epochs = 1
    from sslxai.core import data_path, provenance
    from sslxai.data import open_source
    from sslxai.train import predict_source, binary_report
    data = data_path('pcam-subset')
    valid = open_source(data, split='valid')
    vidx = np.arange(len(valid)) if not a.quick else np.sort(np.random.default_rng(0).choice(len(valid), 256, replace=False))
    runs, probs = {}, {}
    configs = [('64 px crops (course recipe)', 64, a.epochs), ('whole 96 px patches', 0, a.epochs)]
    if a.longer is not None:
        configs.append((f"{'64 px crops' if a.longer else 'whole 96 px patches'}, {2*a.epochs} epochs", a.longer, 2*a.epochs))
    for name, crop, epochs in configs:
        t0 = time.perf_counter()
        model, meta, res = train(data, crop, epochs, a.quick)
        p, y = predict_source(model, meta, valid, vidx, progress=False)
        probs[name] = p
        runs[name] = dict(crop=crop or None, fit_s=res.get('fit_s'), cached=bool(res.get('cached')),
                          n_train=res.get('n_train'), precision=res.get('precision_used'),
                          epochs=epochs, train_images=epochs*(res['n_train']//64)*64 if not a.quick else None,
                          valid=binary_report(p, y), model=model, meta=meta, s=round(time.perf_counter() - t0, 1))
        print(name, {k: v for k, v in runs[name].items() if k not in ('model', 'meta')}, flush=True)
    both = np.where((y == 1) & np.all([p.argmax(1) == 1 for p in probs.values()], 0))[0]
    both = np.sort(np.random.default_rng(0).permutation(both)[:a.n_tp])         # a seeded draw, not the first slides
    for name, r in runs.items():
        r['gradcam'] = {l: centre_scores(r['model'], r['meta'], valid, vidx[both], l) for l in LAYERS} if not a.quick else \
                       {l: centre_scores(r['model'], r['meta'], valid, vidx[both], l) for l in ('features.norm5',)}
        del r['model'], r['meta']
    prov = provenance()
    out = dict(date=datetime.date.today().isoformat(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
               machine=platform.machine(), cores=os.cpu_count(), threads=torch.get_num_threads(), torch=torch.__version__,
               commit=prov.get('commit'), data='pcam-subset: train split for training, all of the valid split for scoring',
               epochs=a.epochs, n_tp=int(len(both)), quick=a.quick, chance=round(1/9, 4), runs=runs)
    res_dir = Path(__file__).parent/'results'; res_dir.mkdir(exist_ok=True)
    tag = '_quick' if a.quick else ''
    (res_dir/f'crop{tag}.json').write_text(json.dumps(out, indent=1, default=str))
    lines = [f"# 64 px label-keeping crops against whole 96 px patches, DenseNet169, at the same budget and at twice the epochs",
             '', f"Measured {out['date']} on {out['machine']}, {out['cores']} cores, CPU capability {out['cpu_capability']}, "
             f"{out['threads']} threads, torch {out['torch']}. Trained on PCam's train split of `pcam-subset` "
             f"(the course recipe, epochs as listed), scored at 96 px on all of its valid split (other slides); "
             f"Grad-CAM on the {out['n_tp']} valid tumour patches every model calls tumour (a seeded draw). Chance for both centre-box scores: 0.111.",
             '', '| training | epochs (images) | precision | training s | valid accuracy | valid AUC | layer (map) | mass in centre box [95% CI] | peak in centre box [95% CI] |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, r in runs.items():
        for l, g in r['gradcam'].items():
            lines.append(f"| {name} | {r['epochs']} ({r['train_images'] or 0:,}) | {r['precision']} | {r['fit_s']} | {r['valid']['accuracy']:.3f} | {r['valid']['auc']:.3f} | "
                         f"{cam_cells(l, g)} |")
    (res_dir/f'crop{tag}.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
