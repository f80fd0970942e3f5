import ApusConfig
import Testing

/// YAML that Yams cannot turn into values safely is a clear `ConfigError`, never a crash.
@Suite struct ConfigNodeTests {
    func expectMalformed(_ yaml: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: ConfigError(file: "bad.yaml", location: "", message: "malformed YAML: " + message), sourceLocation: sourceLocation) {
            try ConfigNode.parse(yaml, file: "bad.yaml")
        }
    }

    /// A list or a mapping as a key: Yams' `load` force-unwraps it as a text (found by fuzzing).
    @Test func keysMustBeNames() {
        expectMalformed("model:\n  layers:\n    - {[a, b]}\n", "line 3: a key must be a name, not a list or a mapping")
        expectMalformed("? {a: 1}\n: 2\n", "line 1: a key must be a name, not a list or a mapping")
    }

    /// Aliases repeating each other stand for exponentially many values.
    @Test func aliasBombsAreRefused() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...6 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        expectMalformed(yaml, "more than 100000 values (aliases repeating each other?)")
        let fine = try ConfigNode.parse("a: &a [1, 2]\nb: *a\nc: {<<: {d: 3}}\n", file: "ok.yaml")
        #expect(try fine.intList("b") == [1, 2] && fine.optionalNode("c").map { try $0.int("d") } == 3)
    }

    /// Found by fuzzing the merged config check: Yams reads `a:b` as a base-60 integer and trapped on overflow.
    @Test func hugeBaseSixtyNumbersAreRefused() throws {
        expectMalformed("9000000009999999998:0\n", "line 1: the number '9000000009999999998:0' is too large")
        expectMalformed("solver: {epochs: 99999999999999999999:00}\n", "line 1: the number '99999999999999999999:00' is too large")
        let fine = try ConfigNode.parse("solver: {time: 1:30}\n", file: "ok.yaml")
        #expect(try fine.node("solver").int("time") == 90)
    }
}
