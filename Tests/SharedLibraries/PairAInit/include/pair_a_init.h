// Library A's initializer (no public declarations).
