import Apus
import ApusData
import Foundation
import Testing

/// The repository's root folder.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Every ```swift block of README.md and docs/*.md, named as `scripts/update-snippets.sh` names
/// its snippet file (`readme_1`, `docs_graph_mode_1`, …).
private func documentedBlocks() throws -> [(name: String, code: String)] {
    let docs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
        .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    var blocks: [(String, String)] = []
    for doc in ["README.md"] + docs {
        let stem = String(doc.dropLast(3)).lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber ? String($0) : "_" }.joined()
        var code: [String]? = nil, count = 0
        for line in try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8).components(separatedBy: "\n") {
            if code == nil, line.trimmingCharacters(in: .whitespaces) == "```swift" {
                code = []
            } else if let lines = code, line.trimmingCharacters(in: .whitespaces) == "```" {
                count += 1
                blocks.append(("\(stem)_\(count)", lines.joined(separator: "\n") + "\n"))
                code = nil
            } else if code != nil {
                code!.append(line)
            }
        }
    }
    return blocks
}

/// A tiny easy-VQA data set at `folder/data/easy-vqa` (64×64 images), where the README's
/// Keras example reads it.
private func easyVQA(in folder: URL) throws {
    let data = folder.appendingPathComponent("data/easy-vqa")
    try "circle\nred\nblue\nyes\nno\n".write(to: data.appendingPathComponent("answers.txt", isDirectory: false).creatingFolder(), atomically: true, encoding: .utf8)
    var questions: [String] = []
    for id in 0..<4 {
        let red = id % 2 == 0
        let png = try Image(width: 64, height: 64, channels: 3, pixels: Array(repeating: red ? [220, 20, 20] : [20, 20, 220], count: 64 * 64).flatMap { $0 }).pngData()
        questions += [#"["what color is the shape?", "\#(red ? "red" : "blue")", \#(id)]"#, #"["is the shape red?", "\#(red ? "yes" : "no")", \#(id)]"#]
        for split in ["train", "test"] { try png.write(to: data.appendingPathComponent("\(split)/images/\(id).png").creatingFolder()) }
    }
    for split in ["train", "test"] {
        try ("[" + questions.joined(separator: ", ") + "]").write(to: data.appendingPathComponent("\(split)/questions.json"), atomically: true, encoding: .utf8)
    }
}

extension URL {
    /// This file URL, after creating its folder.
    fileprivate func creatingFolder() throws -> URL {
        try FileManager.default.createDirectory(at: deletingLastPathComponent(), withIntermediateDirectories: true)
        return self
    }
}

/// The Swift in the README and docs compiles (each block is a SwiftPM snippet, built with the
/// package) and runs, as written.
@Suite(.serialized) struct DocSnippetTests {
    @Test func snippetsAreTheDocumentedBlocks() throws {
        let blocks = try documentedBlocks()
        #expect(blocks.count >= 4)
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Snippets").path).sorted()
        #expect(files == blocks.map { $0.name + ".swift" }.sorted(), "run scripts/update-snippets.sh")
        for (name, code) in blocks {
            let file = try String(contentsOf: root.appendingPathComponent("Snippets/\(name).swift"), encoding: .utf8)
            #expect(file == code, "Snippets/\(name).swift differs from its block in the docs: run scripts/update-snippets.sh")
        }
    }

    @Test func everySnippetRuns() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("apus-snippets-\(UUID().uuidString)")
        try easyVQA(in: folder)
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for (name, _) in try documentedBlocks() {
            var binary = binaries.appendingPathComponent(name)
            if !FileManager.default.isExecutableFile(atPath: binary.path) { binary = root.appendingPathComponent(".build/debug/\(name)") }
            let process = Process()
            process.executableURL = binary
            process.currentDirectoryURL = folder
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(name): \(message)")
        }
    }
}
