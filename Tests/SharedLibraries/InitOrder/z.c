// Built -O2: a real site, so Z has a site note and the runtime's walk sees it.
#include <jumplabel_site.h>

extern int x_in_constructor;
int z_ran_inside_x = -1;

__attribute__((constructor)) static void z_init(void) {
  z_ran_inside_x = x_in_constructor;
  (void)JL_BRANCH("order.key", 0, 0);
}

int z_site(void) { return JL_BRANCH("order.key", 0, 0); }
