import Apus
import ApusNN

/// Multiplies its input by a constant: Caffe's `transform_param { scale: … }` on a data layer
/// (0.00390625 = 1/256 turns MNIST's 0–255 pixels into [0, 1)). Same shape in and out.
public final class InputScale: Module, UnaryLayer {
    /// The factor.
    public let scale: Double
    /// A layer computing `x · scale`.
    public init(_ scale: Double) { self.scale = scale }
    override public var typeDescription: String { "InputScale(\(scale))" }
    /// x · scale, same shape.
    public func forward(_ x: Tensor) -> Tensor { x * scale }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Subtracts a mean image [C, H, W] or per-channel means [C, 1, 1] from its input: Caffe's
/// `transform_param { mean_file: … }` / `mean_value`. Same shape in and out.
public final class InputMean: Module, UnaryLayer {
    /// The mean subtracted (broadcast over the batch).
    @Buffer public var mean: Tensor
    /// A layer computing `x − mean`.
    public init(_ mean: Tensor) {
        self.mean = mean
        super.init()
    }
    override public var typeDescription: String { "InputMean(\(mean.shape))" }
    /// x − mean, same shape.
    public func forward(_ x: Tensor) -> Tensor { x - mean }
    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}

/// Caffe's LRN across channels (AlexNet's local response normalisation): x [N, C, H, W] →
/// x / (k + α/n · Σ x²)^β, the sum over `size` neighbouring channels (zero beyond the ends). Same shape.
public final class LocalResponseNorm: Module, UnaryLayer {
    /// The window of channels n (odd), α, β and k.
    public let size: Int, alpha: Double, beta: Double, k: Double
    /// A normalisation over `size` channels (Caffe's `lrn_param` defaults: 5, 1, 0.75, 1).
    public init(size: Int = 5, alpha: Double = 1, beta: Double = 0.75, k: Double = 1) {
        (self.size, self.alpha, self.beta, self.k) = (size, alpha, beta, k)
    }
    override public var typeDescription: String { "LocalResponseNorm(\(size))" }

    /// x [N, C, H, W] normalised, same shape.
    public func forward(_ x: Tensor) -> Tensor {
        guard x.rank == 4 else { return .failure(ShapeError(op: typeDescription, shapes: [x.shape], expected: "input [N, C, H, W]")) }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        // The channel-window mean of x² as an average pooling over a [N, 1, C, H·W] view (padding counted).
        let squares = (x * x).reshaped([n, 1, c, h * w])
        let mean = avgPool2d(squares, kernel: (size, 1), stride: (1, 1), padding: (size / 2, 0), countIncludePad: true)
        let scale = (mean * alpha + k).reshaped([n, c, h, w])
        return x * scale.pow(-beta)
    }

    /// Applies the layer: `forward(x)`.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }
}
