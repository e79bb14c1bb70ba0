// Module API: PyTorch state_dict names, train/eval propagation, parameter gradients of a small
// composition (conv -> BN -> ReLU -> attention) checked by finite differences.
import XCTest
import Tensor
import Autograd
import NN

final class Block: Module {
    let conv = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: false, seed: 1)
    let bn = BatchNorm2d(4)
    let attn = EfficientSelfAttention(dim: 4, heads: 2, srRatio: 2, seed: 2)
    let drop = DropPath(0.5)
    var training = true
    var children: [(String, any Module)] { [("conv", conv), ("bn", bn), ("attn", attn)] }

    func callAsFunction(_ x: Variable) -> Variable {
        let y = relu(bn(conv(x)))
        let (b, c, h, w) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3])
        let tokens = transpose(reshape(y, [b, c, h * w]), 1, 2)
        return add(tokens, drop(attn(tokens, height: h, width: w), seed: 5))
    }
}

final class ModuleTests: XCTestCase {
    func testNamesAndModes() {
        let m = Block()
        XCTAssertEqual(m.namedParameters().map { $0.0 }, [
            "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
            "attn.attn.in_proj_weight", "attn.attn.in_proj_bias", "attn.attn.out_proj.weight", "attn.attn.out_proj.bias",
            "attn.sr.weight", "attn.sr.bias", "attn.norm.weight", "attn.norm.bias"])
        XCTAssertEqual(m.trainableParameters().count, 11)
        XCTAssertEqual(m.attn.attn.inProjWeight.shape, [12, 4])
        m.eval()
        XCTAssertFalse(m.bn.training); XCTAssertFalse(m.attn.sr!.training)
        m.train()
        XCTAssertTrue(m.bn.training)
    }

    /// After one warm-up step, a training step takes every tensor buffer from the pool.
    func testTrainingStepReusesPooledBuffers() {
        let m = Block()
        let t = LabelMap(shape: [2, 8, 12])
        for i in 0..<t.count { t[i] = UInt8(i % 4) }
        func step() {
            let x = Variable(Tensor.uniform([2, 3, 4, 6], seed: 1))
            let y = m(x)                                                  // [2, 24, 4]
            let logits = resizeBilinear(reshape(transpose(y, 1, 2), [2, 4, 4, 6]), height: 8, width: 12, alignCorners: true)
            backward(crossEntropy(logits, t))
            m.zeroGrad()
        }
        step(); step()
        let misses = BufferPool.shared.misses
        step()
        XCTAssertEqual(BufferPool.shared.misses, misses, "a warm training step allocated new buffers")
    }

    func testModuleListNames() {
        final class Net: Module {
            let layers = ModuleList([Conv2d(2, 3, kernelSize: 1, bias: false), Conv2d(3, 3, kernelSize: 3, padding: 1)])
            let bn = ModuleList([BatchNorm2d(3)])
            var training = true
            var children: [(String, any Module)] { [("layer1", layers), ("bn", bn)] }
        }
        let net = Net()
        XCTAssertEqual(net.namedParameters().map { $0.0 }, ["layer1.0.weight", "layer1.1.weight", "layer1.1.bias", "bn.0.weight",
                                                             "bn.0.bias", "bn.0.running_mean", "bn.0.running_var", "bn.0.num_batches_tracked"])
        net.eval()
        XCTAssertFalse(net.bn[0].training)
    }

    func testParameterGradientsOfComposition() {
        let m = Block()
        let x = Variable(Tensor.uniform([2, 3, 4, 6], seed: 3))
        let y = m(x)
        let cot = Tensor.uniform(y.shape, seed: 4)
        backward(y, seed: cot)
        func objective() -> Double {
            withNoGrad {
                let out = m(x).value
                return (0..<out.count).reduce(0.0) { $0 + Double(out[$1]) * Double(cot[$1]) }
            }
        }
        let h: Float = 5e-3
        for (name, p) in m.trainableParameters() {
            guard let g = p.grad else { XCTFail("\(name): no gradient"); continue }
            for i in Swift.stride(from: 0, to: p.value.count, by: max(1, p.value.count / 7)) {
                let orig = p.value[i]
                p.value[i] = orig + h; let fp = objective()
                p.value[i] = orig - h; let fm = objective()
                p.value[i] = orig
                let numeric = (fp - fm) / Double(2 * h)
                XCTAssertEqual(Double(g[i]), numeric, accuracy: 3e-3 + 3e-2 * abs(numeric), "\(name)[\(i)]")
            }
        }
    }
}
