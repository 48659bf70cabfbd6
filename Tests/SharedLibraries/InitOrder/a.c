// Needs X and Z: dlopen(A) maps all three, then runs X's, Z's, A's constructors.
extern int z_site(void);
int a_site(void) { return z_site(); }
