"""A recurrent differentiable logic-gate network (RDDLGN-style) in PyTorch, trainable on a CPU.

Each step maps [x_t; h_{t-1}] through layers of two-input gates to [h_t; head bits]; the
head's bits, split into ``classes`` groups, are counted (GroupSum) into the class scores
``count / tau``. A gate is difflogic's: during training a softmax mixture of the 16
two-input ops, each relaxed to a real function of a, b in [0, 1]; in eval mode the op of the
largest weight (the lowest id on ties), which on bits is exactly the gate
``lgn2rtl.ir.op_table`` names, so the eval model computes what lgn2rtl's golden model and
hardware compute.

Memory comes from the state: gate j < n_state of every layer reads state bit j (layer 0) or
gate j of the layer before as its input ``a``, and starts out favouring op 3 (``a``), so
that h is carried from step to step until training learns what to change (the residual
initialisation of Petersen et al., 2024).

Import into lgn2rtl with ``lgn2rtl.importers.recurrent.from_module(model)`` or write
the npz layout with ``save_layout(model, path)``; neither imports torch.
"""
from __future__ import annotations

import torch

# Each op, relaxed, is c0 + c1*a + c2*b + c3*a*b: its coefficients, by difflogic op id
# (docs/semantics.md's table). On bits the integer coefficients give the op exactly.
OP_COEFFICIENTS = torch.tensor([
    [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, -1], [0, 1, 0, 0],
    [0, 0, 1, -1], [0, 0, 1, 0], [0, 1, 1, -2], [0, 1, 1, -1],
    [1, -1, -1, 1], [1, -1, -1, 2], [1, 0, -1, 0], [1, 0, -1, 1],
    [1, -1, 0, 0], [1, -1, 0, 1], [1, 0, 0, -1], [1, 0, 0, 0]], dtype=torch.float32)
PASS_A = 3  # the op "a": a state bit carried unchanged
RESIDUAL_LOGIT = 5.0


class LogicLayer(torch.nn.Module):
    """``n_out`` two-input gates over ``n_in`` inputs; gate j reads inputs ``indices[0][j]`` (a)
    and ``indices[1][j]`` (b) and has 16 op ``weights[j]``. The first ``carry`` gates read
    input j as a and start out as op ``a``."""

    def __init__(self, n_in: int, n_out: int, carry: int, carry_offset: int, generator: torch.Generator):
        super().__init__()
        # straight-through training: the forward pass takes the discrete gates, the gradient the
        # softmax mixture's, so that training sees the errors the discrete state carries along
        self.straight_through = False
        a = torch.randint(0, n_in, (n_out,), generator=generator)
        a[:carry] = torch.arange(carry) + carry_offset
        b = torch.randint(0, n_in, (n_out,), generator=generator)
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        weights = torch.randn(n_out, 16, generator=generator)
        weights[:carry, PASS_A] += RESIDUAL_LOGIT
        self.weights = torch.nn.Parameter(weights)

    @property
    def indices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b), as difflogic spells a layer's connections."""
        return self.a, self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the discrete gate: argmax takes the lowest id on ties, as lgn2rtl does
        hard = torch.nn.functional.one_hot(self.weights.argmax(dim=1), 16).float()
        if not self.training:
            mix = hard
        else:
            soft = torch.softmax(self.weights, dim=1)
            mix = soft + (hard - soft).detach() if self.straight_through else soft
        c = mix @ OP_COEFFICIENTS.to(x.device)
        a, b = x[:, self.a], x[:, self.b]
        return c[:, 0] + c[:, 1] * a + c[:, 2] * b + c[:, 3] * a * b


class RecurrentDLGN(torch.nn.Module):
    """Tokens of ``n_x`` bits, a state of ``n_state`` bits starting at ``init``, ``hidden`` gate
    layers, then a last layer of ``n_state + classes * group`` gates: h_t, then the head's bits.

    ``forward(x)`` takes x [B, T, n_x] in [0, 1] and returns the scores after every step,
    [B, T, classes]; ``readout`` says which steps the task reads ("end": the last).
    """

    def __init__(self, n_x: int, n_state: int, hidden: list[int], classes: int, group: int, tau: float,
                 readout: str = "end", seed: int = 0):
        super().__init__()
        if any(w < n_state for w in hidden):
            raise ValueError(f"every hidden layer needs at least n_state={n_state} gates to carry the state, got {hidden}")
        g = torch.Generator().manual_seed(seed)
        self.n_x, self.n_state, self.classes, self.group, self.tau, self.readout = \
            n_x, n_state, classes, group, tau, readout
        widths = [n_x + n_state, *hidden, n_state + classes * group]
        self.layers = torch.nn.ModuleList(
            [LogicLayer(n_in, n_out, n_state, n_x if i == 0 else 0, g)
             for i, (n_in, n_out) in enumerate(zip(widths, widths[1:]))])
        self.register_buffer("init", torch.zeros(n_state))

    def straight_through(self, on: bool = True) -> None:
        """Train with the discrete gates in the forward pass from now on (``LogicLayer``)."""
        for layer in self.layers:
            layer.straight_through = on

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: (h_t [B, n_state], scores [B, classes])."""
        z = torch.cat([x, h], dim=1)
        for layer in self.layers:
            z = layer(z)
        head = z[:, self.n_state:].reshape(len(z), self.classes, self.group)
        return z[:, :self.n_state], head.sum(dim=2) / self.tau

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.init.expand(len(x), -1)
        scores = []
        for t in range(x.shape[1]):
            h, s = self.step(x[:, t], h)
            scores.append(s)
        return torch.stack(scores, dim=1)
