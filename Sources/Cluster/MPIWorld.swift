// Open MPI as dcot's Collective: MPI_COMM_WORLD of a job started by mpirun or srun --mpi=pmix.
// MPI starts only when a launcher's environment is present, so a program run by hand is one
// process that never initialises MPI. Collectives are MPI's blocking ones, watched by a thread: one
// that has waited DCOT_MPI_TIMEOUT seconds (default 900) for the other ranks ends this process with
// a message, and the launcher then ends the job, so a rank that stops answering cannot hang it.
import Autograd
import CMPI
import Foundation
import Support
import Synchronization

/// Start of the collective in progress (monotonic ns), 0 when none.
private let collectiveStart = Atomic<UInt64>(0)

public final class MPIWorld: Collective {
    public let rank: Int
    public let size: Int
    let comm: MPI_Comm?
    let timeout: Double
    /// What the job is doing, for the timeout message.
    public var program = "dcot"

    /// True when mpirun/srun (PMIx or Open MPI's launcher) started this process.
    public static var launchedByLauncher: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// MPI_COMM_WORLD when a launcher started this process, nil otherwise (no MPI start-up).
    public static func fromLauncher(program: String) -> MPIWorld? {
        guard launchedByLauncher else { return nil }
        // A rank waiting in a collective yields its core instead of spinning (unless the user chose):
        // on a shared or oversubscribed machine spinning ranks slow the ones they wait for.
        setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0)
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, dcot_mpi_thread_funneled(), &provided) == dcot_mpi_success() else {
            printError("error: \(program): MPI_Init_thread failed; check the launcher (mpirun, srun --mpi=pmix)")
            exit(1)
        }
        let comm = dcot_mpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        let timeout = ProcessInfo.processInfo.environment["DCOT_MPI_TIMEOUT"].flatMap(Double.init) ?? 900
        let w = MPIWorld(rank: Int(r), size: Int(s), comm: comm, timeout: timeout)
        w.program = program
        w.startWatchdog()
        return w
    }

    init(rank: Int, size: Int, comm: MPI_Comm?, timeout: Double) {
        (self.rank, self.size, self.comm, self.timeout) = (rank, size, comm, timeout)
    }

    func datatype(_ k: ElementKind) -> MPI_Datatype? {
        switch k {
        case .byte: dcot_mpi_byte()
        case .float: dcot_mpi_float()
        case .double: dcot_mpi_double()
        case .int64: dcot_mpi_int64()
        }
    }

    func count32(_ n: Int) -> Int32 {
        precondition(n >= 0 && n <= Int(Int32.max), "an MPI message of \(n) elements exceeds MPI's 32-bit counts")
        return Int32(n)
    }

    func displacements(_ counts: [Int]) -> [Int32] {
        var out = [Int32](), o = 0
        for c in counts { out.append(count32(o)); o += c }
        return out
    }

    /// Runs one blocking collective under the watchdog.
    func watched(_ what: String, _ call: () -> Int32) {
        collectiveStart.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        let rc = call()
        collectiveStart.store(0, ordering: .relaxed)
        if rc != dcot_mpi_success() { fail("MPI \(what) failed (code \(rc))") }
    }

    /// The watchdog: checks once a second whether a collective has waited longer than the timeout.
    func startWatchdog() {
        let timeoutNs = UInt64(timeout * 1e9), rank = rank, size = size, program = program
        let t = Thread {
            while true {
                sleep(1)
                let start = collectiveStart.load(ordering: .relaxed)
                if start != 0 && DispatchTime.now().uptimeNanoseconds > start + timeoutNs {
                    printError("error: \(program): rank \(rank) of \(size): waited \(Int(timeoutNs / 1_000_000_000)) s in a collective for the other ranks (one stopped answering); set DCOT_MPI_TIMEOUT to wait longer")
                    _exit(1)
                }
            }
        }
        t.start()
    }

    func fail(_ message: String) -> Never {
        printError("error: \(program): rank \(rank) of \(size): \(message)")
        abort(1)
    }

    public func allgather(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, count: Int, kind: ElementKind) {
        watched("allgather") { MPI_Allgather(input, count32(count), datatype(kind), output, count32(count), datatype(kind), comm) }
    }

    public func allgatherv(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, counts: [Int], kind: ElementKind) {
        let c32 = counts.map(count32), d32 = displacements(counts)
        watched("allgatherv") { MPI_Allgatherv(input, c32[rank], datatype(kind), output, c32, d32, datatype(kind), comm) }
    }

    public func alltoallv(_ input: UnsafeRawPointer, sendCounts: [Int], _ output: UnsafeMutableRawPointer, recvCounts: [Int],
                          kind: ElementKind) {
        let sc = sendCounts.map(count32), sd = displacements(sendCounts)
        let rc = recvCounts.map(count32), rd = displacements(recvCounts)
        watched("alltoallv") { MPI_Alltoallv(input, sc, sd, datatype(kind), output, rc, rd, datatype(kind), comm) }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, kind: ElementKind, root: Int) {
        watched("broadcast") { MPI_Bcast(buffer, count32(count), datatype(kind), Int32(root), comm) }
    }

    public func abort(_ code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }

    /// MPI_Finalize (every rank, at a normal end).
    public func finish() { MPI_Finalize() }
}

/// A program's body under a job: errors every rank raises at the same point (`AllRanksError`) are
/// printed once (rank 0) and end every rank with their code; any other error is printed with the
/// rank that hit it and ends the whole job (MPI_Abort), so no rank is left waiting.
public enum Job {
    public static func run(_ world: MPIWorld?, _ body: () throws -> Void) -> Never {
        guard let world else { runReportingErrors(body) }
        do {
            try body()
            world.finish()
            exit(0)
        } catch let e as AllRanksError {
            if world.rank == 0 { printError("error: \(e.message)") }
            world.finish()
            exit(e.exitCode)
        } catch {
            printError("error: \(world.program): rank \(world.rank) of \(world.size): \(error)")
            world.abort(1)
        }
    }
}
