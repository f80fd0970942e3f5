import Apus

/// The base class of every layer and model.
///
/// Parameters (`@Parameter`, `@OptionalParameter`), buffers (`@Buffer`) and submodules (stored
/// properties holding modules, arrays of modules or dictionaries of modules) are found by
/// reflection and named by path (`encoder.lstm.weightIH`); those names are checkpoint keys.
/// A module is a class: using one instance in two places shares its weights, and its gradient
/// is the sum of both uses.
///
/// ```swift
/// final class MLP: Module {
///     let hidden = Linear(784, 128)
///     let output = Linear(128, 10)
///     func callAsFunction(_ x: Tensor) -> Tensor { output(hidden(x).relu()) }
/// }
/// ```
open class Module {
    /// Training mode (dropout active, batch statistics) or evaluation mode.
    public private(set) var isTraining = true
    /// Compiled forward functions while `hybridize()` is on.
    var hybridState: HybridState?

    /// Creates a module in training mode; subclasses declare their parameters and submodules as stored properties.
    public init() {}

    /// A short description for summaries (`Linear(784 → 128)`); subclasses override.
    open var typeDescription: String { String(describing: type(of: self)) }

    /// Direct children: (name, submodule), in declaration order.
    public func namedChildren() -> [(String, Module)] {
        var result: [(String, Module)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [[(String, Module)]] = []
        while let current = mirror {
            var level: [(String, Module)] = []
            for child in current.children {
                guard let label = child.label else { continue }
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                switch child.value {
                case let module as Module: level.append((name, module))
                case let modules as [Module]: level += modules.enumerated().map { ("\(name).\($0.offset)", $0.element) }
                case let modules as [String: Module]: level += modules.sorted { $0.key < $1.key }.map { ("\(name).\($0.key)", $0.value) }
                case let module as Module?: if let module { level.append((name, module)) }
                default: continue
                }
            }
            levels.append(level)
            mirror = current.superclassMirror
        }
        for level in levels.reversed() { result += level }   // superclass properties first
        return result
    }

    /// This module's own parameters and buffers (not its children's).
    private func ownSlots() -> (parameters: [(String, Parameter)], buffers: [(String, Buffer)]) {
        var parameters: [(String, Parameter)] = [], buffers: [(String, Buffer)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [([(String, Parameter)], [(String, Buffer)])] = []
        while let current = mirror {
            var p: [(String, Parameter)] = [], b: [(String, Buffer)] = []
            for child in current.children {
                guard let label = child.label else { continue }
                let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
                if let parameter = child.value as? Parameter { p.append((name, parameter)) }
                if let optional = child.value as? OptionalParameter, let parameter = optional.parameter { p.append((name, parameter)) }
                if let buffer = child.value as? Buffer { b.append((name, buffer)) }
            }
            levels.append((p, b))
            mirror = current.superclassMirror
        }
        for (p, b) in levels.reversed() {
            parameters += p
            buffers += b
        }
        return (parameters, buffers)
    }

    /// Every module in the tree (this one first) with its path; a shared module appears once.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Module)] = []
        func visit(_ module: Module, _ path: String) {
            guard seen.insert(ObjectIdentifier(module)).inserted else { return }
            result.append((path, module))
            for (name, child) in module.namedChildren() { visit(child, path.isEmpty ? name : "\(path).\(name)") }
        }
        visit(self, prefix)
        return result
    }

    /// Every parameter with its path (`encoder.lstm.weightIH`); a shared parameter appears once.
    public func namedParameters() -> [(String, Parameter)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Parameter)] = []
        for (path, module) in namedModules() {
            for (name, parameter) in module.ownSlots().parameters where seen.insert(ObjectIdentifier(parameter)).inserted {
                result.append((path.isEmpty ? name : "\(path).\(name)", parameter))
            }
        }
        return result
    }

    /// Every parameter (each once).
    public func parameters() -> [Parameter] { namedParameters().map(\.1) }

    /// Every parameter that is not frozen.
    public func trainableParameters() -> [Parameter] { parameters().filter(\.isTrainable) }

    /// Every buffer with its path.
    public func namedBuffers() -> [(String, Buffer)] {
        namedModules().flatMap { path, module in
            module.ownSlots().buffers.map { (path.isEmpty ? $0.0 : "\(path).\($0.0)", $0.1) }
        }
    }

    /// Number of scalars in all parameters.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.value.count } }

    /// Switches this module and all submodules to training (`true`) or evaluation mode.
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = on }
    }

    /// Evaluation mode: dropout off, BatchNorm uses running statistics.
    public func eval() { train(false) }

    /// Stops gradients for every parameter (transfer learning).
    public func freeze() { for p in parameters() { p.isTrainable = false } }

    /// Lets gradients flow to every parameter again.
    public func unfreeze() { for p in parameters() { p.isTrainable = true } }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters() { p.grad = nil } }
}
