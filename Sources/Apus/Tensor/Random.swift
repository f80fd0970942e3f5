import Foundation

/// A seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64): the same seed
/// gives the same numbers on every run and machine.
public final class RandomGenerator: @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var lock = pthread_mutex_t()

    /// The generator used when none is passed; reseed it with `Random.seed(_:)`.
    public static let global = RandomGenerator(seed: 0)

    /// A generator whose sequence is determined by `seed` (the role of `torch.Generator().manual_seed(seed)`; the numbers differ from PyTorch's).
    public init(seed: UInt64) {
        pthread_mutex_init(&lock, nil)
        reseed(seed)
    }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        pthread_mutex_lock(&lock)
        state = (splitMix(), splitMix(), splitMix(), splitMix())
        pthread_mutex_unlock(&lock)
    }

    /// The generator's position in its sequence (four words): save it with a checkpoint and set
    /// it back to continue the sequence exactly (a run resumed part-way through an epoch).
    public var position: [UInt64] {
        get {
            pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
            return [state.0, state.1, state.2, state.3]
        }
        set {
            precondition(newValue.count == 4, "RandomGenerator.position: four words, got \(newValue.count)")
            pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    private func nextUnlocked() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Fills `count` uniform doubles in [0, 1) (53 random bits each).
    func uniforms(_ count: Int) -> [Double] {
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        return (0..<count).map { _ in Double(nextUnlocked() >> 11) * 0x1.0p-53 }
    }

    /// A uniform integer in 0..<bound.
    public func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:): bound must be positive")
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        return Int(nextUnlocked() % UInt64(bound))
    }
}

/// Global random state.
public enum Random {
    /// Reseeds the global generator, making every later random call reproducible.
    public static func seed(_ seed: UInt64) { RandomGenerator.global.reseed(seed) }
}

extension Tensor {
    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: RandomGenerator = .global) -> Tensor {
        let u = generator.uniforms(shape.reduce(1, *))
        return Tensor(doubles: u.map { low + (high - low) * $0 }, shape: shape, dtype: dtype)
    }

    /// Normal samples with the given mean and standard deviation (Box–Muller).
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              generator: RandomGenerator = .global) -> Tensor {
        let count = shape.reduce(1, *)
        let u = generator.uniforms(count + count % 2)
        var values = [Double](repeating: 0, count: count + count % 2)
        for i in stride(from: 0, to: values.count, by: 2) {
            let radius = (-2 * Foundation.log(1 - u[i])).squareRoot()
            let angle = 2 * Double.pi * u[i + 1]
            values[i] = mean + std * radius * Foundation.cos(angle)
            values[i + 1] = mean + std * radius * Foundation.sin(angle)
        }
        return Tensor(doubles: Array(values.prefix(count)), shape: shape, dtype: dtype)
    }

    /// 1 with probability `p`, else 0.
    public static func bernoulli(_ shape: [Int], p: Double, dtype: DType = .float32,
                                 generator: RandomGenerator = .global) -> Tensor {
        precondition((0...1).contains(p), "bernoulli: p must be in [0, 1], got \(p)")
        return Tensor(doubles: generator.uniforms(shape.reduce(1, *)).map { $0 < p ? 1 : 0 }, shape: shape, dtype: dtype)
    }

    /// Inverted-dropout mask: each element is 0 with probability `p`, else 1/(1-p), so
    /// `x * mask` keeps the expected value of `x`.
    public static func dropoutMask(_ shape: [Int], p: Double, dtype: DType = .float32,
                                   generator: RandomGenerator = .global) -> Tensor {
        precondition((0..<1).contains(p), "dropoutMask: p must be in [0, 1), got \(p)")
        let keep = 1 / (1 - p)
        return Tensor(doubles: generator.uniforms(shape.reduce(1, *)).map { $0 < p ? 0 : keep }, shape: shape, dtype: dtype)
    }
}
