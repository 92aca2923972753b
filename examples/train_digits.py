"""Train a logic gate network on scikit-learn's digits on a CPU, and write it for lgn2rtl.

    python examples/train_digits.py -o digits_trained.lgn

Relaxation of Petersen et al. (NeurIPS 2022): every gate holds 16 logits, and
training mixes difflogic's 16 real-valued ops by their softmax; inference takes
the argmax op, so the trained network is a circuit. ``--gumbel`` adds Gumbel
noise to the logits with a straight-through hard choice (Yousefi et al., "Mind
the Gap", 2025). Connections are random and fixed. Pixels (0..16) are
thermometer-encoded; the thresholds travel in the .lgn file as its encoder.
The accuracy printed at the end is the golden model's, on held-out digits.
"""
import time
from pathlib import Path

import click
import numpy as np
import torch

import digits_data  # beside this script
from lgn2rtl import golden, native, vectors
from lgn2rtl.importers.difflogic import from_module
from lgn2rtl.ir import op_table

THRESHOLDS = [2.0, 6.0, 10.0, 14.0]


def _multilinear(op: int) -> list[float]:
    """op(a, b) = c0 + c1 a + c2 b + c3 ab on [0, 1]: difflogic's real-valued form of a truth table."""
    f = [(op_table(op) >> addr) & 1 for addr in range(4)]  # addr = a + 2b
    return [f[0], f[1] - f[0], f[2] - f[0], f[3] - f[2] - f[1] + f[0]]


OPS = torch.tensor([_multilinear(op) for op in range(16)], dtype=torch.float32)  # [16, 4]


class LogicLayer(torch.nn.Module):
    """``out`` 2-input gates on fixed random inputs; ``.weights`` and ``.indices`` as difflogic names them."""

    def __init__(self, in_dim: int, out_dim: int, gumbel: bool):
        super().__init__()
        self.in_dim, self.gumbel = in_dim, gumbel
        self.weights = torch.nn.Parameter(torch.randn(out_dim, 16))
        c = torch.randperm(2 * out_dim) % in_dim  # every input used before any is reused
        self.indices = tuple(torch.randperm(in_dim)[c].reshape(2, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            p = torch.nn.functional.one_hot(self.weights.argmax(-1), 16).float()
        elif self.gumbel:
            p = torch.softmax(self.weights - torch.empty_like(self.weights).exponential_().log(), -1)
            p = p + torch.nn.functional.one_hot(p.argmax(-1), 16) - p.detach()  # hard forward, soft gradient
        else:
            p = torch.softmax(self.weights, -1)
        c = p @ OPS
        a, b = x[:, self.indices[0]], x[:, self.indices[1]]
        return c[:, 0] + c[:, 1] * a + c[:, 2] * b + c[:, 3] * a * b


class GroupSum(torch.nn.Module):
    def __init__(self, k: int, tau: float):
        super().__init__()
        self.k, self.tau = k, tau

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), self.k, -1).sum(-1) / self.tau


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default="digits_trained.lgn",
              show_default=True, help="Native model file to write.")
@click.option("--vectors", "vec", type=click.Path(dir_okay=False, path_type=Path),
              help="Test-split vectors (x bits, raw pixel features, y) to write [default: OUTPUT with _vectors.npz].")
@click.option("--width", default=1000, show_default=True, help="Gates per layer.")
@click.option("--depth", default=2, show_default=True, help="Logic layers.")
@click.option("--epochs", default=20, show_default=True)
@click.option("--lr", default=0.05, show_default=True)
@click.option("--tau", default=10.0, show_default=True, help="GroupSum temperature: scores are counts / tau.")
@click.option("--gumbel", is_flag=True, help="Gumbel noise with a straight-through gate choice.")
@click.option("--seed", default=0, show_default=True)
def main(output, vec, width, depth, epochs, lr, tau, gumbel, seed):
    """Train on 80 % of load_digits, report the discrete accuracy on the other 20 %."""
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    encoder, _, x_te, bits_tr, bits_te, y_tr, y_te = digits_data.load(THRESHOLDS, seed)
    dims = [bits_tr.shape[1]] + [width] * depth
    model = torch.nn.Sequential(*[LogicLayer(i, o, gumbel) for i, o in zip(dims, dims[1:])],
                                GroupSum(10, tau))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(bits_tr).float(), torch.from_numpy(y_tr)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(xt)).split(64):
            loss = torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(torch.from_numpy(bits_te).float()).argmax(-1).numpy() == y_te).mean()
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.3f}  discrete test accuracy (torch) {acc:.2%}  "
              f"{time.perf_counter() - start:.0f} s")
    net = from_module(model, thresholds=encoder.thresholds)
    net.meta.update(dataset="sklearn load_digits", seed=seed, epochs=epochs, gumbel=gumbel)
    native.save(net, output)
    vec = vec or output.with_name(output.stem + "_vectors.npz")
    vectors.save(vec, x=bits_te, features=x_te.astype(np.uint8), y=y_te)  # pixels are 0..16
    _, classes = golden.predict(net, bits_te)
    print(f"wrote {output} ({net.n_nodes} gates) and {vec} ({len(y_te)} test digits)")
    print(f"discrete test accuracy (golden model): {np.mean(classes == y_te):.4f}")


if __name__ == "__main__":
    main()
