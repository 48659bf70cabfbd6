import JumpLabel
print(StaticKeys.list())
