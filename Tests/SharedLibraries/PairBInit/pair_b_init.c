// Library B's initializer: records what B's sites say while B loads, before
// dlopen() has returned to anybody.
extern void pair_b_record_at_load(void);

__attribute__((constructor)) static void pair_b_init(void) { pair_b_record_at_load(); }
