// `dcot-bench io`: single-core per-image costs of the data stage on VOC-sized (500x375) images —
// JPEG decode, zstd compression of the decoded pixels at dcot-prep's level, the direct DCT transform,
// coefficient extraction, label PNG decoding — and the dcot-prep bound they imply.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline
import Shards
import Support
import Synth

struct IOBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "io", abstract: "Per-image I/O costs (one core).")

    @Option(name: .customLong("image"), help: "TAG=FILE: also measure this JPEG/PNG (repeatable); cropped/padded to 500x375.")
    var images: [String] = []
    @Option(help: "Timed runs per measurement (median and minimum reported).")
    var runs: Int = 30
    @Flag(help: "JSON lines only.")
    var json = false

    func run() throws {
        runReportingErrors {
            var inputs: [(String, RGBImage)] = []
            let codec = JPEGCodec()
            for spec in images {
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw UserError("--image \(spec)", "expected TAG=FILE", fix: "e.g. --image photo=coffee.png") }
                let img = try SampleDecoding.image(try readFileBytes(parts[1], what: "image"), path: parts[1], codec: codec)
                inputs.append((parts[0], fit(img, width: 500, height: 375)))
            }
            var rng = SplitMix64(seed: 0)
            inputs.append(("random_500x375", RGBImage(width: 500, height: 375,
                                                      pixels: (0..<(500 * 375 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })))
            let synth = SynthRenderer.render(SynthConfig(classes: 6, size: 500, seed: 0), split: "bench", index: 0)
            inputs.append(("synth_500x375", fit(RGBImage(width: synth.width, height: synth.height, pixels: synth.rgb),
                                                width: 500, height: 375)))
            var decodeMs = 0.0, compressMs = 0.0
            for (tag, img) in inputs {
                emit("dct_pipeline", tag, time { _ = DCTTransform.coefficients(img) }, via: "DCTTransform.coefficients (direct, bit-exact)")
                let jpeg = try codec.encode(img, quality: 90, subsampling: .s420)
                let q90 = "\(tag)_q90"
                let dec = time { _ = try? codec.decode(jpeg) }
                emit("jpeg_decode", q90, dec, via: "TurboJPEG tjDecompress2 to RGB, \(jpeg.count) bytes")
                emit("jpeg2dct_load", q90, time { _ = try? JPEGCoefficients.read(jpeg) }, via: "jpeg_read_coefficients, dequantised")
                let ctx = Zstd.Context()
                let comp = time { _ = img.pixels.withUnsafeBytes { Zstd.compress($0, level: ShardFormat.defaultLevel, context: ctx.pointer) } }
                let ratio = Double(img.pixels.count) / Double(Zstd.compress(img.pixels, level: ShardFormat.defaultLevel).count)
                emit("zstd_compress", tag, comp, via: String(format: "level %d, ratio %.2f", ShardFormat.defaultLevel, ratio))
                if tag == inputs.first!.0 {
                    decodeMs = dec.median
                    compressMs = comp.median
                }
            }
            var labels = [UInt8](repeating: 0, count: 500 * 375)
            for i in labels.indices {
                let band: Int = i / 500 / 40 + (i % 500) / 60
                labels[i] = UInt8(band % 21)
            }
            let label = LabelImage(width: 500, height: 375, labels: labels)
            let png = try PNG.writePalette(label)
            emit("png_label_read", "label_500x375", time { _ = try? LabelPNG.read(png) }, via: "libpng via CNative, \(png.count) bytes")
            let bound = 2 * 1000 / (decodeMs + compressMs)
            let line = String(format: "{\"name\": \"prep_bound\", \"image\": \"%@\", \"images_per_s_2_cores\": %.1f, \"decode_ms\": %.4f, \"compress_ms\": %.4f}",
                              inputs.first!.0, bound, decodeMs, compressMs)
            print(line)
            if !json {
                printError(String(format: "bound for dcot-prep without --dct on 2 cores: 2 / (decode %.3f ms + compress %.3f ms) = %.0f images/s",
                                  decodeMs, compressMs, bound))
            }
        }
    }

    struct Timing { var median: Double; var min: Double }

    func time(_ body: () -> Void) -> Timing {
        for _ in 0..<3 { body() }
        var ts = [Double]()
        for _ in 0..<max(1, runs) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            ts.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        ts.sort()
        return Timing(median: ts[ts.count / 2], min: ts[0])
    }

    func emit(_ name: String, _ image: String, _ t: Timing, via: String) {
        print(String(format: "{\"name\": \"%@\", \"image\": \"%@\", \"ms_per_image\": %.4f, \"ms_min\": %.4f, \"runs\": %d, \"threads\": 1, \"via\": \"%@\"}",
                     name, image, t.median, t.min, runs, via))
    }

    /// Centre crop (or zero-pad) to width x height.
    func fit(_ img: RGBImage, width: Int, height: Int) -> RGBImage {
        var out = RGBImage(width: width, height: height, fill: 0)
        let x0 = max(0, (img.width - width) / 2), y0 = max(0, (img.height - height) / 2)
        for y in 0..<min(height, img.height) {
            for x in 0..<min(width, img.width) {
                for c in 0..<3 { out.pixels[(y * width + x) * 3 + c] = img.pixels[((y + y0) * img.width + x + x0) * 3 + c] }
            }
        }
        return out
    }
}
