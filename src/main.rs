fn main() -> std::process::ExitCode {
    prom::cli::main()
}
