// Library A's initializer, the user-space twin of a kernel module's init.
extern void pair_a_initialize(void);

__attribute__((constructor)) static void pair_a_init(void) { pair_a_initialize(); }
