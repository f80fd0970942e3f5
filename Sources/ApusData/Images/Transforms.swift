import Apus
import CApusKernels

/// A step of an image pipeline on Float32 [C, H, W] tensors; random ones draw from `generator`,
/// so a seeded generator gives the same augmentations on every run.
public protocol ImageTransform {
    func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor
}

/// Bilinear resize to `height × width` (half-pixel centres, as PyTorch's `interpolate` with
/// `align_corners=False`).
public struct Resize: ImageTransform {
    public let height: Int, width: Int
    public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }
    public init(_ size: Int) { self.init(height: size, width: size) }

    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        guard image.rank == 3 && image.dtype == .float32 else {
            return .failure(ShapeError(op: "Resize", shapes: [image.shape], expected: "a Float32 [C, H, W] image, got \(image.dtype)"))
        }
        if image.shape[1] == height && image.shape[2] == width { return image }
        let x = image.contiguous()
        var y = Tensor.zeros([image.shape[0], height, width])
        x.withUnsafeBuffer(of: Float.self) { source in
            y.withUnsafeMutableBuffer(of: Float.self) { target in
                apus_resize_bilinear_f32(Int64(image.shape[0]), Int64(image.shape[1]), Int64(image.shape[2]), Int64(height), Int64(width),
                                         source.baseAddress!, target.baseAddress!)
            }
        }
        return y
    }
}

/// The central `height × width` window.
public struct CenterCrop: ImageTransform {
    public let height: Int, width: Int
    public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }
    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        guard image.rank == 3, image.shape[1] >= height && image.shape[2] >= width else {
            return .failure(ShapeError(op: "CenterCrop", shapes: [image.shape], expected: "an image [C, H, W] of at least \(height)×\(width)"))
        }
        let top = (image.shape[1] - height) / 2, left = (image.shape[2] - width) / 2
        return image[.all, top..<(top + height), left..<(left + width)].contiguous()
    }
}

/// A random `height × width` window (after zero `padding` on every side).
public struct RandomCrop: ImageTransform {
    public let height: Int, width: Int, padding: Int
    public init(height: Int, width: Int, padding: Int = 0) { (self.height, self.width, self.padding) = (height, width, padding) }
    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        let padded = padding > 0 ? image.padded([(0, 0), (padding, padding), (padding, padding)]) : image
        guard padded.rank == 3, padded.shape[1] >= height && padded.shape[2] >= width else {
            return .failure(ShapeError(op: "RandomCrop", shapes: [image.shape], expected: "an image [C, H, W] of at least \(height)×\(width) after padding \(padding)"))
        }
        let top = generator.nextInt(below: padded.shape[1] - height + 1), left = generator.nextInt(below: padded.shape[2] - width + 1)
        return padded[.all, top..<(top + height), left..<(left + width)].contiguous()
    }
}

/// Mirrors the image left–right with probability `p`.
public struct RandomHorizontalFlip: ImageTransform {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        Double(generator.nextInt(below: 1 << 30)) / Double(1 << 30) < p ? image.flipped(axes: [2]).contiguous() : image
    }
}

/// (x − mean) / std per channel.
public struct Normalize: ImageTransform {
    public let mean: [Double], std: [Double]
    public init(mean: [Double], std: [Double]) { (self.mean, self.std) = (mean, std) }
    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        guard image.rank == 3, mean.count == image.shape[0] && std.count == image.shape[0] else {
            return .failure(ShapeError(op: "Normalize", shapes: [image.shape], expected: "\(mean.count) channels (one mean and one std each), got \(std.count) std"))
        }
        let m = Tensor(shape: [mean.count, 1, 1], scalars: mean.map { Float($0) })
        let s = Tensor(shape: [std.count, 1, 1], scalars: std.map { Float(1 / $0) })
        return (image - m) * s
    }
}

/// Transforms applied in order.
public struct Compose: ImageTransform {
    public let steps: [any ImageTransform]
    public init(_ steps: [any ImageTransform]) { self.steps = steps }
    public func callAsFunction(_ image: Tensor, generator: RandomGenerator) -> Tensor {
        steps.reduce(image) { $1($0, generator: generator) }
    }
}
