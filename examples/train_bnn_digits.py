"""Train a binarized neural network on scikit-learn's digits on a CPU, write it for lgn2rtl, compile it.

    python examples/train_bnn_digits.py -o bnn_digits.lgn

The usual BNN recipe (Courbariaux et al., 2016; Hubara et al., 2016): ``BinaryLinear``
layers use ``sign(weight)`` in the forward pass with a straight-through gradient to
latent float weights clipped to [-1, 1]; each hidden layer is followed by
``BatchNorm1d`` and a sign activation (straight-through, hardtanh gradient). sign(0) is
+1 everywhere. Pixels (0..16) are thermometer-encoded into bits, and the model sees bit
b as 2b - 1. The last layer has no batch norm and no bias, so its outputs, the integer
dot products 2P - F, are the class scores; the loss only divides them by sqrt(F).

Written next to OUTPUT: the PyTorch parameters in lgn2rtl's BNN layout (``_layout.npz``,
which ``lgn2rtl compile`` reads as well), the test split with PyTorch's eval outputs
(``_vectors.npz``: ``x``, ``y``, ``torch_scores`` and each Linear's dot products
``torch_dot{i}``) and the compiled design (``--rtl``). The script then checks the golden
model against PyTorch on every test row and every neuron.
"""
import time
from pathlib import Path

import click
import numpy as np
import torch

import digits_data  # beside this script
from lgn2rtl import golden, native, vectors
from lgn2rtl.hdl.emit import compile_design
from lgn2rtl.importers.bnn import from_module, save_layout

THRESHOLDS = [4.0, 10.0]


class BinaryLinear(torch.nn.Linear):
    """A Linear layer whose forward uses the weights' signs (0 counts as +1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        return torch.nn.functional.linear(x, w + (torch.where(w >= 0, 1.0, -1.0) - w).detach(), self.bias)


class Sign(torch.nn.Module):
    """+1 where x >= 0, else -1; the gradient is hardtanh's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clipped = x.clamp(-1, 1)
        return clipped + (torch.where(x >= 0, 1.0, -1.0) - clipped).detach()


def dot_products(model: torch.nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, list[np.ndarray]]:
    """PyTorch's eval output for ±1 inputs ``x``, and every BinaryLinear's output (the ±1 dot products)."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, out: seen.append(out.numpy().copy()))
             for m in model if isinstance(m, BinaryLinear)]
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    return out, seen


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default="bnn_digits.lgn",
              show_default=True, help="Native model file to write.")
@click.option("--rtl", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the compiled design [default: OUTPUT with _rtl].")
@click.option("--hidden", multiple=True, type=int, default=[64], show_default=True,
              help="Neurons per hidden layer; repeat the option for more layers.")
@click.option("--epochs", default=30, show_default=True)
@click.option("--lr", default=0.01, show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(output, rtl, hidden, epochs, lr, seed):
    """Train on 80 % of load_digits, check and compile, report accuracy on the other 20 %."""
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    encoder, _, _, bits_tr, bits_te, y_tr, y_te = digits_data.load(THRESHOLDS, seed)
    dims = [bits_tr.shape[1], *hidden]
    blocks = [[BinaryLinear(i, o, bias=False), torch.nn.BatchNorm1d(o), Sign()] for i, o in zip(dims, dims[1:])]
    model = torch.nn.Sequential(*sum(blocks, []), BinaryLinear(dims[-1], 10, bias=False))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(bits_tr * 2.0 - 1).float(), torch.from_numpy(y_tr)
    xe = torch.from_numpy(bits_te * 2.0 - 1).float()
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(xt)).split(64):
            loss = torch.nn.functional.cross_entropy(model(xt[batch]) / dims[-1] ** 0.5, yt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for m in model:
                    if isinstance(m, BinaryLinear):
                        m.weight.clamp_(-1, 1)
        model.eval()
        with torch.no_grad():
            acc = (model(xe).argmax(-1).numpy() == y_te).mean()
        print(f"epoch {epoch + 1:3d}  loss {loss.item():.3f}  test accuracy (torch) {acc:.2%}  "
              f"{time.perf_counter() - start:.0f} s")

    model.eval()
    net = from_module(model, thresholds=encoder.thresholds)
    net.meta.update(dataset="sklearn load_digits", seed=seed, epochs=epochs)
    native.save(net, output)
    layout = output.with_name(output.stem + "_layout.npz")
    save_layout(model, layout, thresholds=encoder.thresholds)
    scores, dots = dot_products(model, xe)
    vec = output.with_name(output.stem + "_vectors.npz")
    vectors.save(vec, x=bits_te, y=y_te, torch_scores=scores.numpy(), **{f"torch_dot{i}": d for i, d in enumerate(dots)})
    print(f"wrote {output} ({len(net.layers)} layers), {layout} and {vec} ({len(y_te)} test digits)")

    counts, classes = golden.predict(net, bits_te)
    float_scores = counts / net.head.tau + net.head.beta  # 2 * count - F
    print(f"test accuracy (golden model): {np.mean(classes == y_te):.4f}; rows whose scores or class differ "
          f"from PyTorch's: {int(np.sum(np.any(float_scores != scores.numpy(), axis=1)))}, "
          f"{int(np.sum(classes != scores.argmax(-1).numpy()))} of {len(y_te)}")
    hidden_counts = golden.binarized_counts(net, bits_te)
    differ = 0
    for i, dot in zip(hidden_counts, dots):  # 2 * count - F is the dot product, negated where weights were complemented
        flipped = np.any(net.layers[i].signs != (model[3 * i].weight.detach().numpy() >= 0), axis=1)
        differ += int(np.sum(np.where(flipped, -1, 1) * (2 * hidden_counts[i] - net.layers[i].fan_in) != dot))
    total = sum(c.size for c in hidden_counts.values())
    print(f"hidden pre-threshold sums that differ from PyTorch's: {differ} of {total}")

    rtl = rtl or output.with_name(output.stem + "_rtl")
    m = compile_design(net, rtl)
    print(f"compiled to {rtl}/: latency {m['latency']} cycles, one sample per clock, "
          f"{m['nodes']['after_opt']} nodes after -O1")


if __name__ == "__main__":
    main()
