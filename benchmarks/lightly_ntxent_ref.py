"""Reference values of lightly's `NTXentLoss` for fixed seeded inputs, recorded into nbs/42_losses.ipynb.

lightly is a dev-only reference, not a dependency of sslxai. Its declared requirements pull in pytorch_lightning and
hydra-core, so it is installed on its own, without dependencies, into a folder outside the project's environment
(NTXentLoss itself needs only torch). From the repository root, with the project's environment active:

    python -m pip install --target ../lightly_pkgs --no-deps lightly==1.6.0
    PYTHONPATH=../lightly_pkgs python benchmarks/lightly_ntxent_ref.py

It prints the cases as the literal list that 42_losses.ipynb holds, compares them with `sslxai.losses.nt_xent`, and
writes benchmarks/results/lightly_ntxent_ref.json. The inputs are `torch.randn` from a seeded `torch.Generator`, in
float64; each case records the sum of its inputs, so that a change in torch's RNG shows up as "inputs changed"
rather than as a loss mismatch.
"""
import json, platform, sys, datetime
from pathlib import Path
import torch

CASES = [(0, 1, 4, 0.1), (1, 2, 3, 0.5), (2, 8, 16, 0.1), (3, 32, 128, 0.07), (4, 5, 7, 1.0), (5, 64, 32, 0.2)]  # seed, N, D, temp

def inputs(seed, n, d):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, d, generator=g, dtype=torch.float64).unbind(0)

def main():
    import lightly
    from lightly.loss import NTXentLoss
    rows = []
    for seed, n, d, temp in CASES:
        z1, z2 = inputs(seed, n, d)
        ref = NTXentLoss(temperature=temp)(z1, z2).item()
        rows.append(dict(seed=seed, n=n, d=d, temp=temp, input_sum=round((z1.sum() + z2.sum()).item(), 10), lightly=ref))
    print(f"# lightly {lightly.__version__}, torch {torch.__version__}: (seed, N, D, temp, sum of inputs, NTXentLoss)")
    print("LIGHTLY_REF = [")
    for r in rows: print(f"    ({r['seed']}, {r['n']}, {r['d']}, {r['temp']}, {r['input_sum']!r}, {r['lightly']!r}),")
    print("]")
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from sslxai.losses import nt_xent
        for r in rows:
            ours = nt_xent(*inputs(r['seed'], r['n'], r['d']), temp=r['temp']).item()
            r['sslxai'] = ours
            print(f"seed {r['seed']}: lightly {r['lightly']:.12f}  sslxai {ours:.12f}  diff {abs(ours - r['lightly']):.2e}")
    except ImportError as e: print(f"(sslxai.losses not importable yet: {e})")
    out = Path(__file__).resolve().parent/'results'/'lightly_ntxent_ref.json'
    out.write_text(json.dumps(dict(date=datetime.date.today().isoformat(), machine=platform.platform(),
                                   lightly=lightly.__version__, torch=torch.__version__, cases=rows), indent=1) + '\n')
    print(f"wrote {out}")

if __name__ == '__main__': main()
