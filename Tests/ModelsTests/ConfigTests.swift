// ModelConfig: the reference YAML configs load unchanged; unknown keys, backbones and heads are
// one-line errors naming the file, the line and the valid choices; small-model keys build.
import XCTest
import Support
import Models

final class ConfigTests: XCTestCase {
    let reference = """
    # arguments for dataset
    dataset: cityscapes
    nclass: 19
    crop_size: 769
    data_root: data/cityscapes
    epochs: 240
    batch_size: 1
    lr: 0.005  # 8GPUs
    lr_multi: 1.0
    criterion:
      name: OHEM
      kwargs:
        ignore_index: 255
        thresh: 0.7
        min_kept: 100000
    conf_thresh: 0.0
    optim: SGD
    backbone: resnet101
    multi_grid: True
    replace_stride_with_dilation: [False, True, True]
    decode_head: DeepLabV3PlusHead
    low_channels: 256
    high_channels: 2048
    dilations: [12, 24, 36]
    """

    func testReferenceConfigLoads() throws {
        let c = try ModelConfig.parse(reference, source: "r101.yaml")
        XCTAssertEqual(c.backbone, "resnet101")
        XCTAssertEqual(c.nclass, 19)
        XCTAssertTrue(c.multiGrid)
        XCTAssertEqual(c.replaceStrideWithDilation, [false, true, true])
        XCTAssertEqual(c.dilations, [12, 24, 36])
        XCTAssertEqual(c.cropSize, 769)
        XCTAssertEqual(c.raw["optim"], "SGD")
    }

    func testUnknownKeyNamesLineAndValidKeys() {
        XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet50\nnclass: 21\nmulti_gird: true\n", source: "c.yaml")) { e in
            let u = e as! UserError
            XCTAssertEqual(u.location, "c.yaml:3")
            XCTAssertTrue(u.problem.contains("multi_gird"))
            XCTAssertTrue(u.fix.contains("multi_grid") && u.fix.contains("drop_path_rate"), u.fix)
        }
    }

    func testUnknownBackboneAndHeadListChoices() {
        XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet50_dct\nnclass: 21\n", source: "c.yaml")) { e in
            let u = e as! UserError
            XCTAssertTrue(u.problem.contains("resnet50_dct") && u.fix.contains("resnet50_dct_64") && u.fix.contains("mit-b3"), "\(u)")
        }
        XCTAssertThrowsError(try ModelConfig.parse("backbone: mit-b2\nnclass: 21\ndecode_head: UPerHead\n")) { e in
            XCTAssertTrue((e as! UserError).fix.contains("SegformerHead"))
        }
        XCTAssertThrowsError(try ModelConfig.parse("backbone: mit-b2\nnclass: 21\ndecode_head: DeepLabV3PlusHead\n"))
        XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet50\nnclass: many\n")) { e in
            XCTAssertTrue((e as! UserError).problem.contains("an integer"))
        }
    }

    func testChannelKeysMustMatchTheBackbone() throws {
        let c = try ModelConfig.parse("backbone: resnet18\nnclass: 3\nlow_channels: 256\nhigh_channels: 2048\n")
        XCTAssertThrowsError(try Segmentor(config: c)) { e in
            XCTAssertTrue((e as! UserError).problem.contains("low_channels 256"), "\(e)")
        }
    }

    func testSmallModelKeys() throws {
        let c = try ModelConfig.parse("""
            backbone: mit-b0
            nclass: 4
            embed_dims: 8
            depths: [1, 1, 2, 1]
            num_heads: [1, 2, 2, 4]
            sr_ratios: [4, 2, 1, 1]
            mlp_ratio: 2
            drop_path_rate: 0.2
            channels: 16
            """)
        let m = try Segmentor(config: c)
        let mit = m.backbone as! MixVisionTransformer
        XCTAssertEqual(mit.featureChannels, [8, 16, 16, 32])
        XCTAssertEqual(mit.stages.map { $0.blocks.count }, [1, 1, 2, 1])
        // Linearly increasing drop-path rates over all 5 blocks: 0, 0.05, ..., 0.2.
        let rates = mit.stages.flatMap { $0.blocks.map(\.dropPathRate) }
        for (r, want) in zip(rates, [0, 0.05, 0.1, 0.15, 0.2] as [Float]) { XCTAssertEqual(r, want, accuracy: 1e-6) }
        let r = try Segmentor(config: try ModelConfig.parse("backbone: resnet34_dct_64\nnclass: 3\nwidth: 0.25\nhead_channels: 16\nreduce_channels: 8\n"))
        XCTAssertEqual((r.backbone as! ResNet).featureChannels, [16, 32, 64, 128])
        XCTAssertEqual(r.domain, .dct)
        XCTAssertEqual(r.namedParameters().first!.0, "backbone.layer1.0.conv1.weight")
        XCTAssertEqual(r.namedParameters().first!.1.shape, [16, 64, 3, 3])
    }

    /// `scale_range` (ours): two positive numbers lo <= hi, kept in `raw` (so it is part of the run's
    /// config hash); absent means the reference's 0.5–2.0.
    func testScaleRangeKey() throws {
        XCTAssertNil(try ModelConfig.parse("backbone: resnet18\nnclass: 3\n").scaleRange)
        let c = try ModelConfig.parse("backbone: resnet18\nnclass: 3\nscale_range: [0.75, 1.5]\n")
        XCTAssertEqual(c.scaleRange, [0.75, 1.5])
        XCTAssertNotNil(c.raw["scale_range"])
        for bad in ["[1.5, 0.75]", "[0, 1]", "[1.0]", "1.5"] {
            XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet18\nnclass: 3\nscale_range: \(bad)\n")) { e in
                XCTAssertTrue("\(e)".contains("scale_range"), "\(e)")
            }
        }
    }

    /// `blur_sigma_range` (ours): 0 <= lo <= hi <= 50; absent means the reference's 0.1–2.0.
    func testBlurSigmaRangeKey() throws {
        XCTAssertNil(try ModelConfig.parse("backbone: resnet18\nnclass: 3\n").blurSigmaRange)
        XCTAssertEqual(try ModelConfig.parse("backbone: resnet18\nnclass: 3\nblur_sigma_range: [0.03, 0.6]\n").blurSigmaRange, [0.03, 0.6])
        XCTAssertEqual(try ModelConfig.parse("backbone: resnet18\nnclass: 3\nblur_sigma_range: [0, 0]\n").blurSigmaRange, [0, 0])
        for bad in ["[0.6, 0.03]", "[-1, 1]", "[0.5]", "2", "[1, 80]"] {
            XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet18\nnclass: 3\nblur_sigma_range: \(bad)\n")) { e in
                XCTAssertTrue("\(e)".contains("blur_sigma_range"), "\(e)")
            }
        }
    }

    /// Every model name the pipelines know (CONFIG_<name> := <dir>/<file> in pipelines/*.mk) names a
    /// config file that exists and loads, with the backbone its name promises.
    func testEveryPipelineModelNameHasALoadableConfig() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let dirs = ["$(CONFIGS)/": ["voc.mk": "pipelines/configs/voc/", "cityscapes.mk": "pipelines/configs/cityscapes/"],
                    "$(DEMO_CONFIGS)/": ["voc.mk": "pipelines/configs/demo/"]]
        var checked = 0
        for mk in ["voc.mk", "cityscapes.mk"] {
            let text = try String(contentsOfFile: "\(root)/pipelines/\(mk)", encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                let name = String(parts[0].dropFirst("CONFIG_".count)), value = String(parts[2])
                guard let prefix = dirs.keys.first(where: { value.hasPrefix($0) }), let dir = dirs[prefix]?[mk] else {
                    XCTFail("\(mk): \(line)"); continue
                }
                let path = "\(root)/\(dir)\(value.dropFirst(prefix.count))"
                let c = try ModelConfig.load(path)
                let expected = ["r50": "resnet50", "r101": "resnet101", "r50-dct": "resnet50_dct_64", "r101-dct": "resnet101_dct_64",
                                "segformer-b2": "mit-b2", "segformer-b3": "mit-b3"][name]
                if let expected { XCTAssertEqual(c.backbone, expected, "\(mk): \(name)") }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 15)
    }

    /// Values a model cannot be built from (or that would trap, overflow or allocate terabytes while
    /// building it) are errors naming the file, line and key, and the YAML parser's own multi-line
    /// messages are folded into one line.
    func testOutOfRangeValuesNameFileLineAndKey() {
        let base = "backbone: resnet18\nnclass: 3\n"
        let cases = [
            "seed: -1": "c.yaml:3 seed", "nclass: 255": "c.yaml:2 nclass", "width: .nan": "c.yaml:3 width",
            "width: 1e300": "c.yaml:3 width", "head_channels: 0": "c.yaml:3 head_channels",
            "reduce_channels: -4": "c.yaml:3 reduce_channels", "dilations: [6, 0, 18]": "c.yaml:3 dilations",
            "crop_size: 4": "c.yaml:3 crop_size", "crop_size_dct: 100000": "c.yaml:3 crop_size_dct",
        ]
        for (line, location) in cases {
            let yaml = line.hasPrefix("nclass") ? "backbone: resnet18\n\(line)\n" : base + line + "\n"
            XCTAssertThrowsError(try ModelConfig.parse(yaml, source: "c.yaml"), line) { e in
                XCTAssertEqual((e as? UserError)?.location, location, "\(line): \(e)")
                let problem = (e as? UserError)?.problem ?? ""
                XCTAssertTrue(problem.contains(" is outside ") || problem.contains(" is less than "), "\(line): \(e)")
            }
        }
        let mit = "backbone: mit-b0\nnclass: 3\n"
        for line in ["num_heads: [1, 2, 0, 8]", "sr_ratios: [8, 4, 2, -1]", "depths: [1, 1, 1, 1000]", "embed_dims: 0", "mlp_ratio: 0",
                     "drop_path_rate: 1.0", "depths: [1, 1, 1]", "sr_ratios: [8, 4, 2, 1, 1]"] {
            XCTAssertThrowsError(try ModelConfig.parse(mit + line + "\n", source: "m.yaml"), line) { e in
                XCTAssertEqual((e as? UserError)?.location, "m.yaml:3 \(line.prefix { $0 != ":" })", "\(line): \(e)")
            }
        }
        // What only the builder can check still names the file.
        let channels = try? ModelConfig.parse("backbone: resnet18\nnclass: 3\nhigh_channels: 7\n", source: "c.yaml")
        XCTAssertThrowsError(try Segmentor(config: channels!)) { XCTAssertTrue("\($0)".hasPrefix("c.yaml (backbone resnet18): high_channels 7"), "\($0)") }
        XCTAssertThrowsError(try ModelConfig.parse("backbone: resnet18\nnclass 3\ncrop_size: 64\n", source: "c.yaml")) { e in
            XCTAssertTrue("\(e)".hasPrefix("c.yaml: not valid YAML"), "\(e)")
            XCTAssertFalse("\(e)".contains("\n"), "\(e)")
        }
    }
}
