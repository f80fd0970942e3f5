/// Where every intermediate value of a graph lives during a run: a byte offset in one arena,
/// chosen from the values' lifetimes so that a slot is reused once its last reader has run
/// (MXNet's static memory planning).
///
/// - Values are grouped into buffers: a view (`returnsView`) shares its input's buffer, and an
///   output computed in place (`inPlaceInputs`) takes over the buffer of an input that dies at
///   its op. A buffer lives from its first definition to its last reader.
/// - Buffers holding a graph input, a constant or a graph output are not planned: they are
///   ordinary allocations owned by whoever holds them.
/// - Offsets are assigned greedily, largest buffer first, each at the lowest offset that
///   overlaps no buffer alive at the same time (the "greedy by size" heuristic).
struct MemoryPlan {
    /// Total bytes of the arena.
    let arenaBytes: Int
    /// Byte offset in the arena of each value that ops allocate (views excluded).
    let offsets: [Int: Int]
    /// Outputs that reuse the slot of an input of their node: output value → input value.
    let inPlace: [Int: Int]
    /// Sum of the planned values' sizes: what the run would hold if nothing were reused.
    let unsharedBytes: Int

    static let alignment = 64
    /// Bytes added after each buffer of at least `largeBuffer` bytes. Buffers of power-of-two
    /// sizes would otherwise sit a multiple of 4 KiB apart, and a kernel streaming through one
    /// while writing another stalls on 4K aliasing (ResNet-18's convolutions ran ≈ 20 % slower
    /// in the arena than in eager mode's allocations).
    static let stagger = 17 * 64, largeBuffer = 1 << 16

    /// Bytes that an op allocates for a value of `spec` (`Tensor(uninitialized:)`).
    static func allocationBytes(_ spec: TensorSpec) -> Int { Swift.max(spec.count, 1) * spec.dtype.byteSize }

    init(_ graph: Graph) {
        let lastUse = graph.lastUses()
        var definedAt: [Int: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { for v in node.outputs { definedAt[v] = i } }

        // Buffers: union-find over value ids.
        var parent: [Int: Int] = [:]
        func root(_ v: Int) -> Int {
            var r = v
            while let p = parent[r], p != r { r = p }
            var x = v
            while let p = parent[x], p != r { parent[x] = r; x = p }
            return r
        }
        func union(_ a: Int, _ b: Int) { let (ra, rb) = (root(a), root(b)); if ra != rb { parent[rb] = ra } }
        for node in graph.nodes where node.op.returnsView {
            for v in node.outputs { union(node.inputs[0], v) }
        }
        var unplanned = Set<Int>()
        for v in graph.inputs + Array(graph.constants.keys) + graph.outputs { unplanned.insert(root(v)) }
        var members: [Int: [Int]] = [:]
        for v in definedAt.keys { members[root(v), default: []].append(v) }
        func end(ofBuffer r: Int) -> Int { members[r, default: []].map { lastUse[$0] ?? definedAt[$0]! }.max() ?? -1 }

        // In place: an output takes the buffer of an input (not a view, sole member) that dies here.
        var inPlace: [Int: Int] = [:]
        for (i, node) in graph.nodes.enumerated() where node.outputs.count == 1 && !node.op.returnsView {
            let v = node.outputs[0]
            guard !unplanned.contains(root(v)) else { continue }
            let specs = node.inputs.map { graph.values[$0] }
            for k in node.op.inPlaceInputs(specs, [graph.values[v]]) {
                let u = node.inputs[k], ru = root(u)
                guard !unplanned.contains(ru), members[ru] == [u], end(ofBuffer: ru) == i,
                      Self.allocationBytes(graph.values[u]) == Self.allocationBytes(graph.values[v]) else { continue }
                let rv = root(v)
                members[ru]! += members.removeValue(forKey: rv) ?? [v]
                parent[rv] = ru
                inPlace[v] = u
                break
            }
        }

        // Allocations are matched to planned slots by size. An output that is not planned must
        // not take a planned sibling's slot: siblings of an unplanned output's size stay unplanned.
        for node in graph.nodes where node.outputs.count > 1 && !node.op.returnsView {
            let unplannedSizes = Set(node.outputs.filter { unplanned.contains(root($0)) }.map { Self.allocationBytes(graph.values[$0]) })
            for v in node.outputs where unplannedSizes.contains(Self.allocationBytes(graph.values[v])) { unplanned.insert(root(v)) }
        }
        // Planned outputs of one node with equal sizes may trade slots: each such slot must
        // outlive all of them.
        var siblingEnd: [Int: Int] = [:]
        for node in graph.nodes where node.outputs.count > 1 && !node.op.returnsView {
            let bySize = Dictionary(grouping: node.outputs) { Self.allocationBytes(graph.values[$0]) }
            for group in bySize.values where group.count > 1 {
                let last = group.map { end(ofBuffer: root($0)) }.max()!
                for v in group { siblingEnd[root(v)] = Swift.max(siblingEnd[root(v)] ?? -1, last) }
            }
        }

        // Lifetimes and sizes of the planned buffers, then offsets.
        struct Buffer { let id: Int, start: Int, end: Int, bytes: Int }
        var buffers: [Buffer] = []
        var allocating: [Int: Int] = [:]   // value that an op allocates → its buffer
        var unshared = 0
        for (r, values) in members where !unplanned.contains(r) {
            let allocated = values.filter { v in !graph.nodes[definedAt[v]!].op.returnsView }
            let bytes = allocated.map { Self.allocationBytes(graph.values[$0]) }.max() ?? 0
            guard bytes > 0 else { continue }
            let rounded = (bytes + Self.alignment - 1) / Self.alignment * Self.alignment + (bytes >= Self.largeBuffer ? Self.stagger : 0)
            buffers.append(Buffer(id: r, start: values.map { definedAt[$0]! }.min()!, end: Swift.max(end(ofBuffer: r), siblingEnd[r] ?? -1), bytes: rounded))
            for v in allocated { allocating[v] = r }
            unshared += allocated.filter { inPlace[$0] == nil }.reduce(0) { $0 + Self.allocationBytes(graph.values[$1]) }
        }
        buffers.sort { ($0.bytes, $1.start, $1.id) > ($1.bytes, $0.start, $0.id) }
        var placed: [(start: Int, end: Int, offset: Int, bytes: Int)] = []
        var bufferOffset: [Int: Int] = [:]
        var arena = 0
        for buffer in buffers {
            let overlapping = placed.filter { $0.start <= buffer.end && buffer.start <= $0.end }.sorted { $0.offset < $1.offset }
            var offset = 0
            for other in overlapping {
                if other.offset >= offset + buffer.bytes { break }
                offset = Swift.max(offset, other.offset + other.bytes)
            }
            placed.append((buffer.start, buffer.end, offset, buffer.bytes))
            bufferOffset[buffer.id] = offset
            arena = Swift.max(arena, offset + buffer.bytes)
        }
        arenaBytes = arena
        let offsets = allocating.compactMapValues { bufferOffset[$0] }
        self.offsets = offsets
        self.inPlace = inPlace.filter { offsets[$0.key] != nil }
        unsharedBytes = unshared
    }
}
