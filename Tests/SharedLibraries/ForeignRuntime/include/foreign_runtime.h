#ifndef FOREIGN_RUNTIME_H
#define FOREIGN_RUNTIME_H

/// The ABI number its runtime note claims (999).
unsigned foreign_runtime_abi(void);

#endif
