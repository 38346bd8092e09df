/* version.h - the riskpipe version, shared by the library and the CLI. */
#ifndef RP_VERSION_H
#define RP_VERSION_H
#define RP_VERSION "0.1.0"
#endif
