#include "posta/node/cli.h"

int main(int argc, char** argv) { return posta::node::RunCli(argc, argv); }
