// PyTorch parity (fixtures from Scripts/goldens/models.py): small-width models with random
// weights; eval logits, train logits, loss, every parameter gradient and the BN running
// statistics after one train-mode forward, against the same PyTorch model run in float64.
// Relative L2 error: logits ≤ 1e-4, gradients ≤ 1e-3, or twice PyTorch float32's own error on that
// tensor when larger (a gradient that BN cancels to ~0 is rounding noise in any float32 code).
import Foundation
import XCTest
import Tensor
import Autograd
import NN
import Models
import Checkpoint
import SafeTensors

final class ParityTests: XCTestCase {
    /// The fixture's model with its weights, input, labels and PyTorch float32's own errors.
    func load(_ name: String) throws -> (SafeTensorsFile, Segmentor, Tensor, LabelMap, [String: Double]) {
        let f = try ModelFixtures.open(name)
        let config = try ModelConfig.parse(f.header.metadata["config"]!, source: name)
        let model = try Segmentor(config: config, seed: 99)
        try Checkpoint.load(into: model, file: f, source: name, prefix: "w.", ignoreOutsidePrefix: true)
        let torchError = try JSONSerialization.jsonObject(with: Data(f.header.metadata["pytorch_float32_error"]!.utf8)) as! [String: Double]
        return (f, model, try ModelFixtures.tensor(f, "input"), try ModelFixtures.labels(f, "labels"), torchError)
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (f, model, x, labels, torchError) = try load(name)
        let size = (labels.shape[1], labels.shape[2])
        func bar(_ key: String, _ tolerance: Double) -> Double { max(tolerance, 2 * (torchError[key] ?? 0)) }

        model.eval()
        let evalLogits = withNoGrad { model(Variable(x), outputSize: size).value }
        let eEval = relativeError(evalLogits, try ModelFixtures.tensor(f, "logits_eval"))
        XCTAssertLessThanOrEqual(eEval, bar("logits_eval", 1e-4), "\(name) eval logits", file: file, line: line)

        model.train()
        let logits = model(Variable(x), outputSize: size)
        let eTrain = relativeError(logits.value, try ModelFixtures.tensor(f, "logits"))
        XCTAssertLessThanOrEqual(eTrain, bar("logits", 1e-4), "\(name) train logits", file: file, line: line)
        let loss = crossEntropy(logits, labels)
        let want = try ModelFixtures.tensor(f, "loss")[0]
        XCTAssertEqual(loss.value[0], want, accuracy: 1e-5 * max(1, abs(want)), "\(name) loss", file: file, line: line)
        backward(loss)

        var worst = (0.0, "")
        for (pname, p) in model.trainableParameters() {
            guard let g = p.grad else { XCTFail("\(name): no gradient for \(pname)", file: file, line: line); continue }
            let e = relativeError(g, try ModelFixtures.tensor(f, "grad." + pname))
            let b = bar("grad." + pname, 1e-3)
            if e / b > worst.0 { worst = (e / b, pname) }
            XCTAssertLessThanOrEqual(e, b, "\(name) gradient \(pname)", file: file, line: line)
        }
        for (pname, p) in model.namedParameters() where p.kind != .parameter {
            let e = relativeError(p.value, try ModelFixtures.tensor(f, "after." + pname))
            XCTAssertLessThanOrEqual(e, 1e-4, "\(name) buffer \(pname)", file: file, line: line)
        }
        print("\(name): eval logits \(eEval), train logits \(eTrain), worst gradient error / bar \(worst.0) (\(worst.1))")
    }

    func testDeepLabResNet50OutputStride16() throws { try check("deeplab_r50_os16") }
    func testDeepLabResNet50OutputStride8MultiGrid() throws { try check("deeplab_r50_os8_mg") }
    func testDeepLabResNet50DCT() throws { try check("deeplab_r50_dct") }
    func testSegFormerMiTB0() throws { try check("segformer_mit_b0") }

    /// Eval logits with every 3x3 conv that can on Winograd F(4x4, 3x3), the dilated ones as
    /// dilation-phase convs (thresholds lowered to the fixtures' small widths and maps): other bits
    /// than the default paths, still within 1e-4 of PyTorch's float64 logits.
    func testEvalLogitsWithWinograd4() throws {
        let saved = (Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide, AtrousConv.phaseMinSide)
        defer { (Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide, AtrousConv.phaseMinSide) = saved }
        for name in ["deeplab_r50_os16", "deeplab_r50_os8_mg", "deeplab_r50_dct"] {
            (Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide, AtrousConv.phaseMinSide) = saved
            let (f, model, x, labels, torchError) = try load(name)
            let size = (labels.shape[1], labels.shape[2])
            model.eval()
            let plain = withNoGrad { model(Variable(x), outputSize: size).value }
            (Conv.winograd4MinChannels, Conv.winograd4MinTiles, Conv.winograd4MinSide, AtrousConv.phaseMinSide) = (1, 1, 1, 1)
            let fast = withNoGrad { model(Variable(x), outputSize: size).value }
            XCTAssertNotEqual(plain.array, fast.array, "\(name): no conv took the F(4x4) path")
            let e = relativeError(fast, try ModelFixtures.tensor(f, "logits_eval"))
            XCTAssertLessThanOrEqual(e, max(1e-4, 2 * (torchError["logits_eval"] ?? 0)), "\(name) eval logits, F(4x4)")
            print("\(name): eval logits with F(4x4) \(e), default paths \(relativeError(plain, try ModelFixtures.tensor(f, "logits_eval")))")
        }
    }
}
