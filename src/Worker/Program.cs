return 0; // Replaced by the System.CommandLine entry point (worker issue).
