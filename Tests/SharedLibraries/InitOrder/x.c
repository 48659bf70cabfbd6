// Built -O0: JL_BRANCH is a read through the runtime, the runtime's first use.
#include <jumplabel_site.h>

int x_in_constructor;
int x_saw;

__attribute__((constructor)) static void x_init(void) {
  x_in_constructor = 1;
  x_saw = JL_BRANCH("order.key", 0, 0);
  x_in_constructor = 0;
}
