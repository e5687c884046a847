#pragma once

namespace vigil::app {

// One function per subcommand; each parses its own options from argv[2..]
// and returns the process exit code.
int runBroker(int argc, char** argv);
int runDetect(int argc, char** argv);
int runRemediate(int argc, char** argv);
int runReplay(int argc, char** argv);
int runGen(int argc, char** argv);
int runCheckConfig(int argc, char** argv);
int runDemo(int argc, char** argv);

}  // namespace vigil::app
