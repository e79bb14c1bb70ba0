// TEMPORARY (branch `tensor`): registers only `ops`; main's version registers every subcommand.
import ArgumentParser

struct DcotBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dcot-bench", subcommands: [OpsBench.self])
}

DcotBench.main()
