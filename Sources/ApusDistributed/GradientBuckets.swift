import Apus
import ApusNN

/// Parameters whose gradients travel together in one all-reduce: consecutive trainable
/// parameters (in reverse declaration order) of one dtype, at most `capacity` bytes in all
/// unless a single parameter is larger.
struct GradientBucket {
    /// Positions in the data-parallel module's parameter list.
    var members: [Int] = []
    /// Where each member's gradient starts in the bucket's flat buffer (elements).
    var offsets: [Int] = []
    /// Elements in all.
    var count = 0
    let dtype: DType

    /// Buckets over `parameters` (the trainable ones, last first).
    static func plan(_ parameters: [Parameter], capacity: Int) -> [GradientBucket] {
        plan(parameters.map { $0.isTrainable ? $0.value.spec : nil }, capacity: capacity)
    }

    /// Buckets over the tensors of `specs` that are not nil, last first.
    static func plan(_ specs: [TensorSpec?], capacity: Int) -> [GradientBucket] {
        var buckets: [GradientBucket] = []
        for index in specs.indices.reversed() {
            guard let spec = specs[index] else { continue }
            let bytes = spec.count * spec.dtype.byteSize
            let fits = buckets.last.map { $0.dtype == spec.dtype && $0.count * $0.dtype.byteSize + bytes <= capacity } ?? false
            if !fits { buckets.append(GradientBucket(dtype: spec.dtype)) }
            buckets[buckets.count - 1].members.append(index)
            buckets[buckets.count - 1].offsets.append(buckets[buckets.count - 1].count)
            buckets[buckets.count - 1].count += spec.count
        }
        return buckets
    }

    /// One flat buffer [count] of the bucket's dtype holding `tensors` (one per member, in
    /// order; nil counts as zeros) one after another, cast to that dtype where needed. Made
    /// outside any graph arena (it outlives the op that makes it, while MPI works on it).
    static func pack(_ tensors: [Tensor?], dtype: DType, count: Int) -> Tensor {
        let flat = withoutArenaPlacement { Tensor.zeros([count], dtype: dtype) }
        let destination = flat.floatElements, bytes = dtype.byteSize
        var offset = 0
        for tensor in tensors {
            defer { offset += tensor?.count ?? 0 }
            guard let tensor else { continue }
            let typed = (tensor.dtype == dtype ? tensor : withoutGrad { tensor.cast(to: dtype) }).contiguous()
            if dtype == .float64 {
                typed.withUnsafeBuffer(of: Double.self) { (destination + offset * bytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count * bytes) }
            } else {
                typed.withUnsafeBuffer(of: Float.self) { (destination + offset * bytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count * bytes) }
            }
        }
        return flat
    }
}

/// One step's exchange of gradients: buckets start (in order, the same on every rank) once all
/// their gradients are final, and `finish` waits for them and puts the averaged gradients back.
final class GradientExchange {
    let communicator: Communicator
    let parameters: [Parameter]
    let buckets: [GradientBucket]
    /// The watched leaves' bucket, in the order `watchedValues` lists them.
    private let bucketOfPosition: [Int]
    /// Members of each bucket whose gradient is not final yet.
    private var waiting: [Int]
    private var pending: [PendingAllReduce] = []
    /// The first error of starting a bucket inside the backward pass (thrown by `finish`).
    private var failure: (any Error)?

    init(communicator: Communicator, parameters: [Parameter], buckets: [GradientBucket]) {
        (self.communicator, self.parameters, self.buckets) = (communicator, parameters, buckets)
        bucketOfPosition = buckets.enumerated().flatMap { b, bucket in Array(repeating: b, count: bucket.members.count) }
        waiting = buckets.map(\.members.count)
    }

    /// Buckets started so far.
    var started: Int { pending.count }

    /// The leaves to watch during backward: every bucket's members, bucket by bucket.
    var watchedValues: [Tensor] { buckets.flatMap { $0.members.map { parameters[$0].value } } }

    /// Watched leaf `position`'s gradient is final: start every bucket that is now complete and
    /// whose predecessors have started, and let MPI move the ones in flight.
    func ready(_ position: Int) {
        waiting[bucketOfPosition[position]] -= 1
        guard failure == nil else { return }
        do {
            while pending.count < buckets.count && waiting[pending.count] == 0 { try start(pending.count) }
            for transfer in pending { _ = try transfer.isComplete() }
        } catch {
            failure = error
        }
    }

    /// Starts the buckets not started yet, waits for all, and sets every member's `grad` to the
    /// mean over ranks (a view into the bucket's buffer); a gradient that was nil counts as zeros.
    func finish() throws {
        if let failure { throw failure }
        while pending.count < buckets.count { try start(pending.count) }
        for (bucket, transfer) in zip(buckets, pending) {
            try transfer.wait()
            withoutGrad {
                for (member, offset) in zip(bucket.members, bucket.offsets) {
                    let parameter = parameters[member]
                    let count = parameter.value.count
                    parameter.grad = transfer.tensor.slice(axis: 0, start: offset, end: offset + count).reshaped(parameter.value.shape)
                }
            }
        }
    }

    /// Copies bucket `b`'s gradients into a fresh flat buffer and starts averaging it.
    private func start(_ b: Int) throws {
        let bucket = buckets[b]
        let flat = GradientBucket.pack(bucket.members.map { parameters[$0].grad }, dtype: bucket.dtype, count: bucket.count)
        pending.append(try communicator.startAllReduce(flat, op: .mean))
    }
}
