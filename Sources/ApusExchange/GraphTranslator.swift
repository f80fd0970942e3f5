import Apus

/// Turns a traced inference `Graph` into ONNX nodes: value names, module-path scopes, the
/// dynamic batch (by comparing the trace at two batch sizes) and constants. The per-op
/// mapping lives in `GraphTranslator+Ops.swift`.
struct GraphTranslator {
    /// The graph traced at the example batch size, and again with every batch axis one larger.
    let first: Graph, second: Graph
    let inputs: [ONNXInput]
    /// The module path and value of each parameter and buffer, in graph-input order after the data inputs.
    let slots: [(path: String, value: Tensor)]
    /// The scope of the node being emitted (names the constants it reads).
    var currentScope = ""
    var builder = ONNXGraphBuilder()
    /// ONNX names of the values emitted so far, by value id.
    var names: [Int: String] = [:]
    /// The module path each value belongs to (the layer that made it).
    var scopes: [Int: String] = [:]
    /// Values computed from parameters and constants only (weights reshaped, transposed, …).
    var parameterDerived: Set<Int> = []
    /// Values an unsupported op (or one depending on it) made: no name.
    var failed: Set<Int> = []
    var unsupported: [String] = []
    /// Why an output of a mapped op has no ONNX value (an op's internal outputs), by value id.
    var unmapped: [Int: String] = [:]

    /// The batch sizes of the two traces.
    let batchSizes: (Int, Int)

    init(_ first: Graph, _ second: Graph, inputs: [ONNXInput], batchSizes: (Int, Int), slots: [(String, Tensor)]) throws {
        (self.first, self.second, self.inputs, self.batchSizes) = (first, second, inputs, batchSizes)
        self.slots = slots.map { (path: $0.0, value: $0.1) }
        guard first.nodes.count == second.nodes.count, first.values.count == second.values.count,
              zip(first.nodes, second.nodes).allSatisfy({ $0.op.name == $1.op.name && $0.inputs == $1.inputs && $0.outputs == $1.outputs }) else {
            throw ONNXError(.batchDependent, "ONNX export: the model records different ops at batch sizes \(batchSizes.0) and \(batchSizes.1) "
                            + "(its Swift control flow depends on the batch size); export it with a fixed batch (batchAxis: nil)")
        }
        for (k, id) in first.inputs.enumerated() where k >= inputs.count {
            let path = self.slots[k - inputs.count].path
            scopes[id] = path.split(separator: ".").dropLast().joined(separator: ".")
            parameterDerived.insert(id)
        }
        for id in first.constants.keys { parameterDerived.insert(id) }
    }

    /// Axes of value `id` whose size follows the batch.
    func dynamicAxes(_ id: Int) -> [Int] {
        let a = first.values[id].shape, b = second.values[id].shape
        return a.indices.filter { a[$0] != b[$0] }
    }

    func spec(_ id: Int) -> TensorSpec { first.values[id] }

    // MARK: - Translation

    mutating func translate(outputNames: [String]) throws {
        for (k, input) in inputs.enumerated() {
            let id = first.inputs[k]
            try builder.reserve(input.name)
            names[id] = input.name
            scopes[id] = ""
            builder.addInput(ONNXGraphBuilder.valueInfo(input.name, spec(id), dynamic: Set(input.batchAxis.map { [$0] } ?? [])))
        }
        for k in first.inputs.indices where k >= inputs.count {
            try builder.reserve(slots[k - inputs.count].path)
        }
        for (index, node) in first.nodes.enumerated() {
            if node.inputs.contains(where: failed.contains) {
                if !Self.hasMapping(node.op) { unsupported.append(node.op.name) }
                node.outputs.forEach { failed.insert($0) }
                continue
            }
            let scope = scopeOf(node)
            for id in node.outputs { scopes[id] = scope }
            if !node.inputs.isEmpty && node.inputs.allSatisfy(parameterDerived.contains) {
                node.outputs.forEach { parameterDerived.insert($0) }
            }
            currentScope = scope.isEmpty ? node.op.name : scope
            guard let produced = try emit(node, second.nodes[index], scope: currentScope) else {
                unsupported.append(node.op.name)
                node.outputs.forEach { failed.insert($0) }
                continue
            }
            for (id, name) in zip(node.outputs, produced) {
                if let name { names[id] = name } else if unmapped[id] == nil { unmapped[id] = "output of \(node.op.name) has no ONNX equivalent" }
            }
        }
        if !unsupported.isEmpty {
            var counts: [String: Int] = [:], order: [String] = []
            for name in unsupported {
                if counts[name] == nil { order.append(name) }
                counts[name, default: 0] += 1
            }
            let list = order.map { counts[$0]! > 1 ? "\($0) (×\(counts[$0]!))" : $0 }.joined(separator: ", ")
            throw ONNXError(.unsupported, "ONNX export: no ONNX mapping for the traced op(s): \(list)")
        }
        for (id, outputName) in zip(first.outputs, outputNames) {
            let source = try name(id)
            try builder.reserve(outputName)
            builder.node("Identity", [source], scope: outputName, named: [outputName])
            builder.addOutput(ONNXGraphBuilder.valueInfo(outputName, spec(id), dynamic: Set(dynamicAxes(id))))
        }
    }

    /// The module path of the layer a node belongs to: that of a parameter-derived input (a
    /// layer's weight), else that of its first input that has one.
    func scopeOf(_ node: Graph.Node) -> String {
        if let weight = node.inputs.first(where: { parameterDerived.contains($0) && !(scopes[$0] ?? "").isEmpty }) { return scopes[weight]! }
        for id in node.inputs { if let s = scopes[id], !s.isEmpty { return s } }
        return ""
    }

    /// The ONNX name of value `id`, emitting a parameter, buffer or constant on first use.
    mutating func name(_ id: Int) throws -> String {
        if let known = names[id] { return known }
        if let k = first.inputs.firstIndex(of: id), k >= inputs.count {
            let slot = slots[k - inputs.count]
            builder.appendInitializer(slot.value.onnxProto(name: slot.path))
            names[id] = slot.path
            return slot.path
        }
        if let constant = first.constants[id] {
            let made = try emitConstant(id, constant)
            names[id] = made
            return made
        }
        throw ONNXError(.unsupported, "ONNX export: a value the outputs need is an \(unmapped[id] ?? "unexported value")")
    }

    /// A constant: an initializer, or, when its shape follows the batch, a fill of its single
    /// value expanded to the runtime shape.
    mutating func emitConstant(_ id: Int, _ tensor: Tensor) throws -> String {
        let other = second.constants[id]
        let scope = currentScope
        if let other, other.shape == tensor.shape {
            if tensor.count <= 1 << 20, tensor.scalars(as: Double.self) != other.scalars(as: Double.self) {
                throw ONNXError(.batchDependent, "ONNX export: a constant \(tensor.shape) of the traced graph holds values that depend on the batch size")
            }
            return try builder.initializer(tensor, name: scope)
        }
        let values = Set(tensor.scalars(as: Double.self))
        guard values.count <= 1 else {
            throw ONNXError(.batchDependent, "ONNX export: a constant of shape \(tensor.shape) made while tracing follows the batch size and is not a fill of one value")
        }
        let fill = try builder.scalar(values.first ?? 0, tensor.dtype)
        let shape = try runtimeShape(first: tensor.shape, second: other?.shape ?? tensor.shape, scope: scope)
        return builder.node1("Expand", [fill, shape], scope: scope)
    }

    /// An int64 shape tensor equal to `first` with each dimension that differs in `second` read
    /// from the batch size at run time (`Shape` of an input with a batch axis).
    mutating func runtimeShape(first: [Int], second: [Int], scope: String) throws -> String {
        guard let k = inputs.firstIndex(where: { $0.batchAxis != nil }) else {
            return try builder.int64s(first, scope: scope)
        }
        let (b1, b2) = batchSizes
        var pieces: [String] = []
        let shapeOf = builder.node1("Shape", [inputs[k].name], scope: scope)
        let batch = builder.node1("Gather", [shapeOf, try builder.int64s([inputs[k].batchAxis!], scope: scope)], scope: scope, [.int("axis", 0)])
        for (axis, (x, y)) in zip(first, second).enumerated() {
            if x == y {
                pieces.append(try builder.int64s([x], scope: scope))
            } else if x == b1 && y == b2 {
                pieces.append(batch)
            } else {
                throw ONNXError(.batchDependent, "ONNX export: axis \(axis) of a shape \(first) follows the batch size but is not the batch (\(x) at batch \(b1), \(y) at batch \(b2))")
            }
        }
        return builder.node1("Concat", pieces, scope: scope, [.int("axis", 0)])
    }
}

