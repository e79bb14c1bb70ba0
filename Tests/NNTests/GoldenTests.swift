// Forward goldens against PyTorch CPU (fixtures from Scripts/goldens/ops.py).
import XCTest
import Tensor
import Autograd
import NN

final class GoldenTests: XCTestCase {
    func testConvolutions() throws {
        let f = try Fixture("conv")
        for name in ["dilated", "grouped", "dilated_grouped", "depthwise", "depthwise_s2_d2", "pointwise_s2"] {
            let cfg = f.tensor(name + ".config")
            let bias = f.header[name + ".bias"] != nil ? Variable(f.tensor(name + ".bias")) : nil
            let y = conv2d(Variable(f.tensor(name + ".x")), Variable(f.tensor(name + ".weight")), bias: bias,
                           stride: Int(cfg[0]), padding: Int(cfg[1]), dilation: Int(cfg[2]), groups: Int(cfg[3]))
            assertClose(y.value, f.tensor(name + ".y"), atol: 1e-4, name)
        }
    }

    func testBatchNormTrainEvalAndRunningStats() throws {
        let f = try Fixture("batch_norm")
        let bn = BatchNorm2d(5)
        bn.weight.value.data.update(from: f.tensor("weight").array, count: 5)
        bn.bias.value.data.update(from: f.tensor("bias").array, count: 5)
        bn.runningMean.value.data.update(from: f.tensor("running_mean0").array, count: 5)
        bn.runningVar.value.data.update(from: f.tensor("running_var0").array, count: 5)
        assertClose(bn(Variable(f.tensor("x1"))).value, f.tensor("y1"), "train y1")
        assertClose(bn(Variable(f.tensor("x2"))).value, f.tensor("y2"), "train y2")
        assertClose(bn.runningMean.value, f.tensor("running_mean2"), atol: 1e-6, "running_mean")
        assertClose(bn.runningVar.value, f.tensor("running_var2"), atol: 1e-6, "running_var")
        XCTAssertEqual(bn.numBatchesTracked.value[0], f.tensor("num_batches_tracked")[0])
        bn.eval()
        assertClose(bn(Variable(f.tensor("x3"))).value, f.tensor("y3_eval"), "eval")
        XCTAssertEqual(bn.numBatchesTracked.value[0], 2)
    }

    func testResizeAndPool() throws {
        let f = try Fixture("resize_pool")
        let x = Variable(f.tensor("x"))
        for ac in [true, false] {
            for (h, w) in [(13, 17), (4, 5), (7, 20), (1, 3)] {
                assertClose(resizeBilinear(x, height: h, width: w, alignCorners: ac).value,
                            f.tensor("bilinear.\(ac ? 1 : 0).\(h)x\(w)"), "bilinear ac=\(ac) \(h)x\(w)")
            }
        }
        for (h, w) in [(13, 17), (4, 5)] {
            assertClose(resizeNearest(x, height: h, width: w).value, f.tensor("nearest.\(h)x\(w)"), atol: 0, rtol: 0, "nearest \(h)x\(w)")
        }
        assertClose(maxPool2d(x).value, f.tensor("maxpool"), atol: 0, rtol: 0, "max pool")
    }

    func testLayerNormGeluSoftmax() throws {
        let f = try Fixture("layer_norm_gelu")
        let ln = LayerNorm(16, eps: 1e-6)
        ln.weight.value.data.update(from: f.tensor("weight").array, count: 16)
        ln.bias.value.data.update(from: f.tensor("bias").array, count: 16)
        assertClose(ln(Variable(f.tensor("x"))).value, f.tensor("y"), "layer norm")
        assertClose(GELU()(Variable(f.tensor("gelu.x"))).value, f.tensor("gelu.y"), atol: 1e-6, "gelu")
        let s = Variable(f.tensor("softmax.x"))
        assertClose(softmax(s, axis: 1).value, f.tensor("softmax.y"), atol: 1e-6, "softmax")
        assertClose(logSoftmax(s, axis: 1).value, f.tensor("log_softmax.y"), "log softmax")
    }

    func testEfficientSelfAttention() throws {
        let f = try Fixture("attention")
        let (h, w, heads, sr) = (Int(f.meta("height"))!, Int(f.meta("width"))!, Int(f.meta("heads"))!, Int(f.meta("sr_ratio"))!)
        let x = f.tensor("x")
        let attn = EfficientSelfAttention(dim: x.shape[2], heads: heads, srRatio: sr)
        let named = attn.namedParameters()
        XCTAssertEqual(named.map { $0.0 }.sorted(), ["attn.in_proj_bias", "attn.in_proj_weight", "attn.out_proj.bias",
                                                     "attn.out_proj.weight", "norm.bias", "norm.weight", "sr.bias", "sr.weight"])
        for (name, p) in named {
            let t = f.tensor(name)
            XCTAssertEqual(t.shape, p.shape, name)
            p.value.data.update(from: t.data, count: t.count)
        }
        assertClose(attn(Variable(x), height: h, width: w).value, f.tensor("y"), atol: 2e-5, "attention")
    }

    func testCrossEntropyAndOhem() throws {
        let f = try Fixture("losses")
        let logits = Variable(f.tensor("logits")), target = f.labels("target")
        assertClose(crossEntropy(logits, target).value, f.tensor("ce_mean"), "CE mean over non-ignored")
        let count = Double(f.tensor("count")[0])
        assertClose(crossEntropy(logits, target, weight: f.tensor("mask"), normalizer: .count(count)).value,
                    f.tensor("ce_masked_count"), "CE masked / count")
        let ol = Variable(f.tensor("ohem.logits")), ot = f.labels("ohem.target")
        for (thr, kept) in [(Float(0.7), 50), (0.3, 100), (0.7, 100000), (0.9, 20)] {
            assertClose(ohemCrossEntropy(ol, ot, threshold: thr, minKept: kept).value,
                        f.tensor("ohem.\(thr).\(kept)"), "OHEM \(thr) \(kept)")
        }
    }
}
