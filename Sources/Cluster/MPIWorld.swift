// Open MPI as dcot's Collective: MPI_COMM_WORLD of a job started by mpirun or srun --mpi=pmix.
// MPI starts only when a launcher's environment is present, so a program run by hand is one
// process that never initialises MPI. Every collective is non-blocking and polled against a
// deadline (DCOT_MPI_TIMEOUT seconds, default 900): a rank that stops answering ends the job with a
// message instead of a hang. Polling sleeps between tests, leaving the cores to the working ranks.
import Autograd
import CMPI
import Foundation
import Support

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

    /// Polls a request until it completes or the deadline passes (then the job ends).
    func wait(_ request: inout MPI_Request?, _ what: String) {
        let start = Date()
        var flag: Int32 = 0, polls = 0
        while true {
            guard MPI_Test(&request, &flag, dcot_mpi_status_ignore()) == dcot_mpi_success() else {
                fail("MPI \(what) failed")
            }
            if flag != 0 { return }
            polls += 1
            if polls > 200 { usleep(polls > 5000 ? 1000 : 50) }
            if polls % 64 == 0 && Date().timeIntervalSince(start) > timeout {
                fail("waited \(Int(timeout)) s in MPI \(what) for the other ranks (one stopped answering); set DCOT_MPI_TIMEOUT to wait longer")
            }
        }
    }

    func fail(_ message: String) -> Never {
        printError("error: \(program): rank \(rank) of \(size): \(message)")
        abort(1)
    }

    public func allgather(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, count: Int, kind: ElementKind) {
        var req: MPI_Request? = dcot_mpi_request_null()
        MPI_Iallgather(input, count32(count), datatype(kind), output, count32(count), datatype(kind), comm, &req)
        wait(&req, "allgather")
    }

    public func allgatherv(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, counts: [Int], kind: ElementKind) {
        let c32 = counts.map(count32), d32 = displacements(counts)
        var req: MPI_Request? = dcot_mpi_request_null()
        MPI_Iallgatherv(input, c32[rank], datatype(kind), output, c32, d32, datatype(kind), comm, &req)
        wait(&req, "allgatherv")
    }

    public func alltoallv(_ input: UnsafeRawPointer, sendCounts: [Int], _ output: UnsafeMutableRawPointer, recvCounts: [Int],
                          kind: ElementKind) {
        let sc = sendCounts.map(count32), sd = displacements(sendCounts)
        let rc = recvCounts.map(count32), rd = displacements(recvCounts)
        var req: MPI_Request? = dcot_mpi_request_null()
        MPI_Ialltoallv(input, sc, sd, datatype(kind), output, rc, rd, datatype(kind), comm, &req)
        wait(&req, "alltoallv")
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, count: Int, kind: ElementKind, root: Int) {
        var req: MPI_Request? = dcot_mpi_request_null()
        MPI_Ibcast(buffer, count32(count), datatype(kind), Int32(root), comm, &req)
        wait(&req, "broadcast")
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
