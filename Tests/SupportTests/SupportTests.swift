import Foundation
import XCTest
import Support

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(of: []), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(of: Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        XCTAssertEqual(SHA256.hex(of: long), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Streaming in odd pieces equals one shot.
        let data = (0..<10_000).map { UInt8($0 % 251) }
        var h = SHA256()
        var i = 0
        for step in [1, 63, 64, 65, 1000, 7] where i < data.count {
            h.update(Array(data[i..<min(i + step, data.count)]))
            i += step
        }
        h.update(Array(data[min(i, data.count)...]))
        XCTAssertEqual(h.finalize(), SHA256.hex(of: data))
    }

    /// The SHA-NI path (when the CPU has it) against the portable one, on many lengths.
    func testAcceleratedEqualsPortable() {
        var rng = SplitMix64(seed: 3)
        for n in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096, 100_003] {
            let data = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let fast = SHA256.hex(of: data)
            SHA256.forcePortable(true)
            let slow = SHA256.hex(of: data)
            SHA256.forcePortable(false)
            XCTAssertEqual(fast, slow, "length \(n)")
        }
        print("SHA-256 accelerated: \(SHA256.isAccelerated)")
    }
}

final class AtomicFileTests: XCTestCase {
    func testWriteReplacesAndFailureLeavesNothing() throws {
        let dir = NSTemporaryDirectory() + "dcot-atomic-\(UUID().uuidString)"
        try makeDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/out.txt"
        try AtomicFile.write("one", to: path)
        try AtomicFile.write("two", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "two")
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: "\(dir)/half.bin") { fd in
            try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(start: nil, count: 0), path: "x")
            throw Boom()
        })
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/half.bin"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.txt"], "no temp files left")
        XCTAssertThrowsError(try AtomicFile.write("x", to: "\(dir)/missing/sub/file.txt")) {
            XCTAssertTrue("\($0)".contains("missing/sub"))
        }
    }
}

final class CounterRNGTests: XCTestCase {
    func testKeyedStreamsAreDeterministicAndDistinct() {
        var a = SplitMix64(seed: 7, keys: 1, 2, 3)
        var b = SplitMix64(seed: 7, keys: 1, 2, 3)
        var c = SplitMix64(seed: 7, keys: 1, 2, 4)
        let xa = (0..<4).map { _ in a.next() }, xb = (0..<4).map { _ in b.next() }, xc = (0..<4).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
        var r = SplitMix64(seed: 1)
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<5000 { counts[r.below(5)] += 1 }
        XCTAssertTrue(counts.allSatisfy { $0 > 850 && $0 < 1150 }, "\(counts)")
    }

    func testParallelMapKeepsOrderAndReportsLowestError() throws {
        let out = try ParallelWork.map(100, jobs: 4) { $0 * $0 }
        XCTAssertEqual(out, (0..<100).map { $0 * $0 })
        struct E: Error { let i: Int }
        XCTAssertThrowsError(try ParallelWork.map(50, jobs: 1) { i -> Int in if i >= 10 { throw E(i: i) }; return i }) {
            XCTAssertEqual(($0 as? E)?.i, 10)
        }
    }
}
