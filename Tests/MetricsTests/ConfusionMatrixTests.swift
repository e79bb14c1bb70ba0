import Foundation
import XCTest
import Metrics
import SafeTensors

final class ConfusionMatrixTests: XCTestCase {
    /// Against Scripts/goldens/metrics.py (numpy transcription of the reference's accumulation).
    func testMatchesNumpyGolden() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/metrics/miou.safetensors").path
        let f = try SafeTensorsFile(contentsOf: path)
        XCTAssertEqual(f.header.metadata["generated_by"], "Scripts/goldens/metrics.py")
        let k = Int(f.header.metadata["classes"]!)!
        var m = ConfusionMatrix(classes: k)
        for n in 0..<4 {
            m.add(prediction: try f.array("pred\(n)", as: UInt8.self, dtype: .U8),
                  target: try f.array("target\(n)", as: UInt8.self, dtype: .U8))
        }
        XCTAssertEqual(m.images, 4)
        XCTAssertEqual(m.intersection, try f.array("intersection", as: Int64.self, dtype: .I64))
        XCTAssertEqual(m.union, try f.array("union", as: Int64.self, dtype: .I64))
        XCTAssertEqual(m.meanIoU, Double(f.header.metadata["miou"]!)!, accuracy: 1e-9)
        XCTAssertEqual(m.pixelAccuracy, Double(f.header.metadata["pixel_accuracy"]!)!, accuracy: 1e-12)
        XCTAssertEqual(m.iou[6], 0) // absent everywhere: counts as 0, as in the reference
    }

    func testDatasetLevelNotPerImageMean() {
        var m = ConfusionMatrix(classes: 2)
        m.add(prediction: [1, 1, 1, 1], target: [1, 1, 1, 0]) // class 1: I 3, U 4
        m.add(prediction: [0, 0], target: [1, 255])           // class 1: I 0, U 1
        XCTAssertEqual(m.iou[1], 3.0 / 5.0, accuracy: 1e-9)
        XCTAssertEqual(m.iou[0], 0, accuracy: 1e-9)            // I 0, U 2
        var other = ConfusionMatrix(classes: 2)
        other.add(prediction: [0], target: [0])
        m.merge(other)
        XCTAssertEqual(m.images, 3)
        XCTAssertEqual(m.iou[0], 1.0 / 3.0, accuracy: 1e-9)
        let report = EvaluationReport(matrix: m, classNames: ["bg", "fg"], protocol: EvaluationProtocol(mode: "original"))
        XCTAssertEqual(report.confusion, [[1, 1], [1, 3]])
        XCTAssertTrue(EvaluationReport.table(m, classNames: ["bg", "fg"], protocol: report.protocol).contains("mode original"))
    }
}
