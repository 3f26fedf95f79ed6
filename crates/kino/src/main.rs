fn main() -> std::process::ExitCode {
    kino_cli::main()
}
