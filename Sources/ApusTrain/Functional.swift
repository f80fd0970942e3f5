import Apus
import ApusData
import ApusNN

/// A value in a functional model under construction: a named input, or a layer applied to
/// other nodes. Its `shape` (per example, without the batch dimension) is checked when the
/// node is made, by tracing the layer on symbolic tensors; a layer that does not fit its
/// inputs makes a node holding the error (`failure`), which `Model(inputs:outputs:)` throws.
public final class Node {
    public let name: String
    /// Shape of one example (the batch dimension is left out) and dtype; `[]` for a failed node.
    public let shape: [Int]
    public let dtype: DType
    /// Why the node could not be made: its layer's shape error (located at the layer and its
    /// input shapes), or the failure of a node it depends on.
    public let failure: (any Error)?
    let layer: Module?
    let inputs: [Node]
    let run: (([Tensor]) -> Tensor)?

    init(name: String, shape: [Int], dtype: DType, layer: Module?, inputs: [Node], run: (([Tensor]) -> Tensor)?,
         failure: (any Error)? = nil) {
        (self.name, self.shape, self.dtype, self.layer, self.inputs, self.run, self.failure) = (name, shape, dtype, layer, inputs, run, failure)
    }

    /// Applies `run` (a layer's forward) to `inputs`, inferring the output shape by tracing;
    /// a shape error (or an input's failure) makes a failed node.
    static func applying(_ layer: Module, to inputs: [Node], _ run: @escaping ([Tensor]) -> Tensor) -> Node {
        do {
            if let failure = inputs.lazy.compactMap(\.failure).first { throw failure }
            return try checkedApplying(layer, to: inputs, name: layer.typeDescription, run)
        } catch {
            return Node(name: layer.typeDescription, shape: [], dtype: .float32, layer: layer, inputs: inputs, run: run, failure: error)
        }
    }

    /// As `applying`, but throws the `ShapeError` (located at `name`) for models built from
    /// outside input such as configuration files.
    public static func checkedApplying(_ layer: Module, to inputs: [Node], name: String,
                                       _ run: @escaping ([Tensor]) -> Tensor) throws -> Node {
        let batch = 2   // any size works: shapes are traced with a symbolic batch of 2
        do {
            let graph = try Graph.trace(inputs.map { TensorSpec([batch] + $0.shape, $0.dtype) }) { [run($0)] }
            let out = graph.outputSpecs[0]
            guard out.shape.first == batch else {
                throw ShapeError(op: layer.typeDescription, shapes: inputs.map { [batch] + $0.shape }, expected: "the batch dimension to stay first")
            }
            return Node(name: name, shape: Array(out.shape.dropFirst()), dtype: out.dtype, layer: layer, inputs: inputs, run: run)
        } catch var error as ShapeError {
            error.location = "\(name) (\(layer.typeDescription)) on \(inputs.map { "\($0.name) [B, \($0.shape.map(String.init).joined(separator: ", "))]" }.joined(separator: ", "))"
            throw error
        }
    }
}

/// A named model input of the given per-example shape: `Input("image", shape: [3, 64, 64])`.
/// The name is the key of that tensor in each batch.
public func Input(_ name: String, shape: [Int], dtype: DType = .float32) -> Node {
    Node(name: name, shape: shape, dtype: dtype, layer: nil, inputs: [], run: nil)
}

extension UnaryLayer {
    /// This layer applied to a functional-model node.
    public func callAsFunction(_ node: Node) -> Node { Node.applying(self, to: [node]) { self.forward($0[0]) } }
}

/// A layer that combines several nodes of one shape (Keras' merge layers).
public class MergeLayer: Module {
    public func forward(_ inputs: [Tensor]) -> Tensor { fatalError("\(typeDescription) must override forward") }
    public func callAsFunction(_ nodes: [Node]) -> Node { Node.applying(self, to: nodes) { self.forward($0) } }
    public func callAsFunction(_ inputs: [Tensor]) -> Tensor { forward(inputs) }
}

/// Elementwise sum of its inputs.
public final class Add: MergeLayer {
    override public func forward(_ inputs: [Tensor]) -> Tensor { inputs.dropFirst().reduce(inputs[0], +) }
}

/// Elementwise product of its inputs.
public final class Multiply: MergeLayer {
    override public func forward(_ inputs: [Tensor]) -> Tensor { inputs.dropFirst().reduce(inputs[0], *) }
}

/// Concatenation of its inputs along `axis` (of the per-example shape; −1 is the last).
public final class Concatenate: MergeLayer {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    override public func forward(_ inputs: [Tensor]) -> Tensor { Tensor.concat(inputs, axis: axis < 0 ? axis : axis + 1) }
}

/// A model built from `Input`s and layers applied to nodes (Keras' functional API), with
/// several named inputs and outputs. Its layers are its submodules, so parameters are found,
/// saved and trained like any module's; a layer used twice shares its weights.
///
/// ```swift
/// let x = Input("x", shape: [784])
/// let model = try Model(inputs: [x], outputs: [Linear(128, 10)(ReLU()(Linear(784, 128)(x)))])
/// let logits = model(["x": batch])[0]
/// ```
public final class Model: Module, HybridizableModule {
    public let name: String
    public let inputs: [Node]
    public let outputs: [Node]
    /// The distinct layers, in order of first use.
    public let layers: [Module]
    let order: [Node]

    /// The model computing `outputs` from `inputs`. Throws the first layer's `ShapeError` met
    /// while wiring (a `Linear(100, 10)` applied to a node of 64 features, say), or a
    /// `TrainingError` when an output depends on an input that is not in `inputs`.
    public init(inputs: [Node], outputs: [Node], name: String = "model") throws {
        var order: [Node] = [], seen = Set<ObjectIdentifier>()
        func visit(_ node: Node) {
            guard seen.insert(ObjectIdentifier(node)).inserted else { return }
            node.inputs.forEach(visit)
            order.append(node)
        }
        outputs.forEach(visit)
        if let failure = order.lazy.compactMap(\.failure).first { throw failure }
        for node in order where node.layer == nil && !inputs.contains(where: { $0 === node }) {
            throw TrainingError("Model '\(name)': the outputs depend on input '\(node.name)', which is not in inputs")
        }
        var layers: [Module] = [], layerIDs = Set<ObjectIdentifier>()
        for node in order { if let layer = node.layer, layerIDs.insert(ObjectIdentifier(layer)).inserted { layers.append(layer) } }
        (self.inputs, self.outputs, self.order, self.layers, self.name) = (inputs, outputs, order, layers, name)
        super.init()
    }

    /// Runs the model on a batch holding one tensor per input name; returns the outputs in order
    /// (as a compiled graph once `hybridize()` is on).
    public func callAsFunction(_ batch: Example) -> [Tensor] {
        var given: [Tensor] = []
        for input in inputs {
            guard let value = batch[input.name], Array(value.shape.dropFirst()) == input.shape, value.dtype == input.dtype else {
                Tensor.report(ShapeError(op: "Model '\(name)'", shapes: [batch[input.name]?.shape ?? []],
                    expected: "input '\(input.name)' as [B] + \(input.shape) \(input.dtype), got \(batch[input.name].map { "\($0.dtype)" } ?? "nothing (the batch has \(batch.keys.sorted()))")"))
                return outputs.map { _ in Tensor.poisoned }
            }
            given.append(value)
        }
        let (inputs, outputs, order) = (self.inputs, self.outputs, self.order)
        return hybridCall(given) { tensors in
            var values: [ObjectIdentifier: Tensor] = [:]
            for (input, tensor) in zip(inputs, tensors) { values[ObjectIdentifier(input)] = tensor }
            for node in order {
                guard let run = node.run else { continue }
                let arguments = node.inputs.map { values[ObjectIdentifier($0)]! }
                // After a failed layer (inside `Tensor.checking`) the later ones do not run.
                values[ObjectIdentifier(node)] = arguments.contains(where: \.isPoisoned) ? Tensor.poisoned : run(arguments)
            }
            return outputs.map { values[ObjectIdentifier($0)]! }
        }
    }
}
