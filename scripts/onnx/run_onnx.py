#!/usr/bin/env python3
"""Checks an ONNX file with onnx's full checker (with shape inference) and runs it in
onnxruntime (CPU): run_onnx.py MODEL.onnx INPUTS.safetensors OUTPUTS.safetensors.

Inputs are fed by name; the outputs are written by their graph output names. Prints one JSON
line: the opset, the graph's input/output shapes as declared (dim_param names kept) and the
node op types used. The Swift tests (Tests/ApusExchangeTests) run it through the venv made by
`Benchmarks/peers/install.sh onnx`."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

import safetensors_io  # noqa: E402


def dims(value):
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


def main():
    model_path, inputs_path, outputs_path = sys.argv[1:4]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    feeds = safetensors_io.read(inputs_path)
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, {i.name: feeds[i.name] for i in session.get_inputs()})
    safetensors_io.write(outputs_path, {n: np.asarray(r) for n, r in zip(names, results)})
    print(json.dumps({
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0],
        "producer": model.producer_name,
        "inputs": {i.name: dims(i) for i in model.graph.input},
        "outputs": {o.name: dims(o) for o in model.graph.output},
        "ops": sorted({n.op_type for n in model.graph.node}),
    }))


if __name__ == "__main__":
    main()
