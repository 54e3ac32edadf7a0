"""Writes the small pytorch_model.bin fixtures used by the IO tests.

Every value is deterministic (arange-based), so the C# tests recompute the
expected numbers instead of reading them from a side file. expected.json is
still written for humans and as a cross-check.

Run with any torch >= 1.6:  python3 make_torch_fixtures.py
"""
import collections
import json
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))

# f32: arange(12) / 4 - 1, shape [3, 4]
f32 = (torch.arange(12, dtype=torch.float32) / 4 - 1).reshape(3, 4)
# f16 and bf16: arange(6) * 0.5 - 1.25, exactly representable in both
f16 = (torch.arange(6, dtype=torch.float32) * 0.5 - 1.25).to(torch.float16).reshape(2, 3)
bf16 = (torch.arange(6, dtype=torch.float32) * 0.5 - 1.25).to(torch.bfloat16).reshape(3, 2)
# non-contiguous: the transpose of a [2, 3] arange, i.e. shape [3, 2], strides (1, 3)
base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
transposed = base.t()
assert not transposed.is_contiguous()
# a view with a storage offset: elements 5..9 of arange(10) + 100
backing = torch.arange(10, dtype=torch.float32) + 100
view = backing[5:9]
assert view.storage_offset() == 5
# two names sharing one storage (tied weights)
tied = torch.arange(4, dtype=torch.float32) * -2
ints = torch.arange(3, dtype=torch.int64)

state = collections.OrderedDict()
state["f32"] = f32
state["f16"] = f16
state["bf16"] = bf16
state["transposed"] = transposed
state["view"] = view
state["tied.a"] = tied
state["tied.b"] = tied
state["ints"] = ints
torch.save(state, os.path.join(here, "small_model.bin"))

# A parameter-wrapped tensor, as nn.Module.state_dict(keep_vars=True) would give.
params = collections.OrderedDict()
params["weight"] = torch.nn.Parameter(torch.arange(4, dtype=torch.float32).reshape(2, 2) + 0.5)
torch.save(params, os.path.join(here, "parameter_model.bin"))

# A real module state_dict: an OrderedDict that carries a _metadata attribute (pickled with BUILD).
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) / 8)
    lin.bias.copy_(torch.tensor([-1.0, 1.0]))
linear = lin.state_dict()
torch.save(linear, os.path.join(here, "linear_state.bin"))

expected = {name: {"shape": list(t.shape), "values": t.float().flatten().tolist()}
            for name, t in list(state.items()) + list(params.items())
            + [("linear." + k, v) for k, v in linear.items()]}
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
