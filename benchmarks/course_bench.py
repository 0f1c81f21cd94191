"""What moves the course recipe's scores on PCam's valid split: colour jitter, learning rate and weight decay, batch size, epochs, the split.

usage: python benchmarks/course_bench.py [--only NAME ...] [--tta] [--gradcam] [--quick]

The course recipe (`sslxai train --recipe course`: DenseNet169 from scratch, 6 epochs of 64 px label-keeping crops of
PCam's 19,171 training patches in `$SSLXAI_DATA/pcam-subset`, one-cycle to 1e-3, weight decay 1e-4) is scored at
96 px on PCam's valid split (2,907 patches of other slides). The first course recipe trained 3 epochs at 2e-3 with
weight decay 0.01; each variant below is stated as its settings changed from the current recipe (the first recipe's
variants carry epochs=3, lr=0.002, wd=0.01) and is trained from seed 0 unless it names another (`seed=1`
measures how much one seed moves the scores). `random split` trains a recipe on 80%
of the training folder and scores it on the other 20%, which shares slides with its training patches (the kind of
split the paper's 96.7% comes from), and on PCam's valid split. `BatchNorm re-estimated at 96 px` re-estimates the
BatchNorm statistics of the 64 px-crop model on 4,096 whole training patches after training (`recalibrate`: no
labels, no gradients) and is also scored before that step. `each image standardised` puts `Standardise` (each image
less its own per-channel mean, over its own standard deviation) in front of the model, in training and scoring.
`whole=1` trains the last epoch on whole 96 px patches (`WholePatches`: progressive resizing); 48 px crops are a quarter
of a patch's pixels, so 12 epochs of them, or 8 and one epoch of whole patches, are the pixels of 3 whole-patch epochs.
Every variant stays within the course budget's pixels (about 57,000 whole patches; the course recipe's 6 epochs of
64 px crops are 51,000) except `twice the epochs (over the budget)`, which
measures what more training buys.
Finished variants are kept in benchmarks/results/course.json (a second call adds to it; `--only` chooses which run),
and the models are cached (`SSLXAI_CACHE`), so a variant already trained is only scored again.
`--gradcam` also scores Grad-CAM at `features.norm5` and `features.denseblock3` against PCam's centre 32x32 box
(mass and peak in the box, bootstrap 95% intervals; chance 0.111) on 200 valid tumour patches the model calls tumour
(a seeded draw), as `crop_bench.py` does.
`--quick` is a smoke test (tiny_densenet on a few hundred images); its numbers mean nothing.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, time
from pathlib import Path
import numpy as np
import torch

from sslxai.recipe import FIRST_COURSE as FIRST    # the first course recipe, as changes from the current one
from sslxai.recipe import recipe_config, patch_equivalents
VARIANTS = {   # name: settings changed from the current course recipe
    'course recipe': {},
    'first course recipe (3 epochs, 2e-3, 0.01)': FIRST,
    'strong colour jitter': dict(FIRST, aug='strong'),
    "lr_find's rate and weight decay (1e-3, 1e-4)": dict(epochs=3),
    'batch 32 (twice the steps)': dict(FIRST, bs=32),
    "half lr_find's rate (5e-4, 1e-4)": dict(epochs=3, lr=5e-4),
    'strong colour jitter, course recipe': dict(aug='strong'),
    'twice the epochs (over the budget)': dict(epochs=12),
    'BatchNorm re-estimated at 96 px': dict(recal=4096),
    'each image standardised': dict(standardise=True),
    '48 px crops, 12 epochs (the same pixels)': dict(crop=48, epochs=12, recal=4096),
    '48 px crops, then whole patches (the same pixels)': dict(crop=48, epochs=9, whole=1),
    'each image standardised, another seed': dict(standardise=True, seed=1),
    'each image standardised, 48 px crops, 12 epochs': dict(standardise=True, crop=48, epochs=12, recal=4096),
    "each image standardised, twice lr_find's rate (2e-3)": dict(standardise=True, lr=2e-3),
    "each image standardised, four times lr_find's rate (4e-3)": dict(standardise=True, lr=4e-3),
    "each image standardised, 4e-3, another seed": dict(standardise=True, lr=4e-3, seed=1),
    "each image standardised, eight times lr_find's rate (8e-3)": dict(standardise=True, lr=8e-3),
    "each image standardised, 4e-3, fastai's weight decay (1e-2)": dict(standardise=True, lr=4e-3, wd=1e-2),
    'each image standardised, 4e-3, 56 px crops, 8 epochs': dict(standardise=True, lr=4e-3, crop=56, epochs=8, recal=4096),
    'each image standardised, 4e-3, a third seed': dict(standardise=True, lr=4e-3, seed=2),
    'random split, first recipe': dict(FIRST, valid_pct=0.2),
    'random split': dict(valid_pct=0.2),
}

def run_variant(name, data, quick):
    from sslxai.recipe import train_recipe, finish
    from sslxai.data import open_source
    from sslxai.train import load_model, predict_source, binary_report
    over = dict(VARIANTS[name])
    if quick: over.update(arch='tiny_densenet', epochs=1, n=512)
    split = over.get('valid_pct') is not None
    src = open_source(data, split='train') if split else data        # the training folder alone: a random 20% is held out
    run = train_recipe(src, 'course', progress=False, **over)
    res = finish(run)
    model, meta = load_model(run['final']); model.eval()
    valid = open_source(data, split='valid')
    vidx = np.arange(len(valid)) if not quick else np.sort(np.random.default_rng(0).choice(len(valid), 256, replace=False))
    t0 = time.perf_counter()
    pred = predict_source(model, meta, valid, vidx, progress=False)      # kept: `--gradcam` draws the model's true positives from it
    scores = {'PCam valid split (other slides)': binary_report(*pred)}
    if split:
        from sslxai.data import pcam_dls     # a cached run has no data loaders: the same seeded split again
        dls = run['dls'] if not run.get('cached') else pcam_dls(src, bs=64, seed=0, valid_pct=0.2, n=over.get('n'))
        held = np.asarray(dls.valid_idxs)
        scores['random 20% of the training folder (shares slides)'] = binary_report(*predict_source(model, meta, src, held, progress=False))
    hist = res.get('history') or []
    if res.get('recal'):     # the last epoch scored the model before its statistics were re-estimated
        scores['PCam valid split, before re-estimating BatchNorm'] = dict(n=res['n_valid'], accuracy=hist[-1]['accuracy'], auc=hist[-1]['roc_auc_score'])
    return dict(settings=VARIANTS[name], fit_s=res.get('fit_s'), recal=res.get('recal'), cached=bool(res.get('cached')), precision=res.get('precision_used'),
                epochs=run['cfg']['epochs'], bs=run['cfg']['bs'], n_train=res.get('n_train'),
                train_images=run['cfg']['epochs']*(res['n_train']//run['cfg']['bs'])*run['cfg']['bs'],
                history=[{k: round(v, 4) for k, v in h.items() if k != 'batches'} for h in hist], eval_s=round(time.perf_counter() - t0, 1),
                scores={k: dict(n=r['n'], accuracy=round(r['accuracy'], 4), auc=round(r['auc'], 4)) for k, r in scores.items()},
                model=model, meta=meta, valid=valid, vidx=vidx, pred=pred)

def whole_patches(r) -> int:
    "The pixels a run trained on, in whole 96 px patches (`sslxai.recipe.patch_equivalents`)."
    return patch_equivalents(recipe_config('course', **r['settings']), r['n_train'])

def write_table(out, res_dir, tag=''):
    "Write course{tag}.md from the runs in `out`; returns its text."
    lines = ["# The course recipe and its variants: DenseNet169 from scratch on PCam's train split, scored on its valid split",
             '', "Each row is one training run, from seed 0 unless its settings name another: the course recipe (6 epochs of 64 px crops, one-cycle to 1e-3, "
             "weight decay 1e-4, batch 64) with the settings listed changed (epochs=3, lr=0.002, wd=0.01 is the first course recipe), "
             "scored at 96 px on all 2,907 patches of PCam's valid split (other slides); the random-split row is also "
             "scored on the 20% of the training folder it held out, which shares slides with its training patches; recal=4096 "
             "re-estimates BatchNorm on 4,096 whole training patches after training, and that row is also scored before it; "
             "standardise=True standardises each image by its own per-channel mean and standard deviation; whole=1 trains the last "
             "epoch on whole 96 px patches (progressive resizing); a 48 px crop is a quarter of a patch's pixels. "
             "Machine, date and precision are those of each row.",
             '', '| variant | changed | epochs (images) | pixels (whole patches) | measured on | precision | training s | scored on | accuracy | ROC AUC |',
             '|---|---|---|---|---|---|---|---|---|---|']
    order = list(VARIANTS)
    for name, r in sorted(out['runs'].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        for k, s in r['scores'].items():
            ch = ', '.join(f'{a}={b}' for a, b in r['settings'].items()) or '-'
            lines.append(f"| {name} | {ch} | {r['epochs']} ({r['train_images']:,}) | {whole_patches(r):,} | {r['date']}, {r['cores']} cores, {r['cpu_capability']}, "
                         f"{r['threads']} threads | {r['precision']} | {r['fit_s']} | {k} | {s['accuracy']:.3f} | {s['auc']:.3f} |")
    from crop_bench import cam_cells
    cams = [(n, r['gradcam']) for n, r in out['runs'].items() if r.get('gradcam')]
    if cams:
        lines += ['', "Grad-CAM of the predicted tumour class against PCam's centre 32x32 box, on valid tumour patches the model "
                  "calls tumour (a seeded draw); chance 0.111 for both scores.", '',
                  '| variant | true positives | layer (map) | mass in centre box [95% CI] | peak in centre box [95% CI] |', '|---|---|---|---|---|']
        for n, g in cams:
            for l, v in g.items():
                if isinstance(v, dict): lines.append(f"| {n} | {g['n_tp']} | {cam_cells(l, v)} |")     # the layers, not n_tp and chance
    (res_dir/f'course{tag}.md').write_text('\n'.join(lines) + '\n')
    return '\n'.join(lines)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', nargs='*', default=None, help=f"variants to run (default: all): {', '.join(VARIANTS)}")
    ap.add_argument('--tta', action='store_true', help='also score the 8-fold dihedral TTA on the valid split')
    ap.add_argument('--gradcam', action='store_true', help="also score Grad-CAM against the centre box on 200 of the model's true positives")
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--table', action='store_true', help='only write course.md again from course.json')
    a = ap.parse_args()
    names = [] if a.table else a.only or list(VARIANTS)
    bad = [n for n in names if n not in VARIANTS]
    if bad: ap.error(f"unknown variant(s) {bad}; choose from {list(VARIANTS)}")
    from sslxai.core import data_path, provenance
    from sslxai.train import predict_source, binary_report
    data = data_path('pcam-subset')
    res_dir = Path(__file__).parent/'results'; res_dir.mkdir(exist_ok=True)
    tag = '_quick' if a.quick else ''
    path = res_dir/f'course{tag}.json'
    out = json.loads(path.read_text()) if path.exists() else dict(runs={})
    for name in names:
        r = run_variant(name, data, a.quick)
        if a.tta:
            t0 = time.perf_counter()
            rep = binary_report(*predict_source(r['model'], r['meta'], r['valid'], r['vidx'], progress=False, tta=True))
            r['scores']['PCam valid split, 8-fold TTA'] = dict(n=rep['n'], accuracy=round(rep['accuracy'], 4), auc=round(rep['auc'], 4))
            r['tta_s'] = round(time.perf_counter() - t0, 1)
        if a.gradcam:
            from crop_bench import centre_scores, LAYERS       # the same scores as the crop comparison
            p, y = r['pred']
            tp = np.where((y == 1) & (p.argmax(1) == 1))[0]
            tp = np.sort(np.random.default_rng(0).permutation(tp)[:200])            # a seeded draw, not the first slides
            r['gradcam'] = dict(n_tp=int(len(tp)), chance=round(1/9, 4),
                                **{l: centre_scores(r['model'], r['meta'], r['valid'], r['vidx'][tp], l) for l in (LAYERS[:1] if a.quick else LAYERS)})
        for k in ('model', 'meta', 'valid', 'vidx', 'pred'): del r[k]
        r.update(date=datetime.date.today().isoformat(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                 machine=platform.machine(), cores=os.cpu_count(), threads=torch.get_num_threads(), torch=torch.__version__,
                 commit=provenance().get('commit'))
        out['runs'][name] = r
        print(name, json.dumps({k: v for k, v in r.items() if k != 'history'}), flush=True)
        path.write_text(json.dumps(out, indent=1, default=str) + '\n')
    print(write_table(out, res_dir, tag))

if __name__ == '__main__': main()
