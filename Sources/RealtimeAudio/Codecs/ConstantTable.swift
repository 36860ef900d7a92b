/// Copies a constant table to memory that is never freed, so a hot loop reads it through a plain pointer:
/// no reference counting and no uniqueness check per call, which a global array costs on every access.
func immortalTable<T>(_ values: [T]) -> UnsafePointer<T> {
    let table = UnsafeMutablePointer<T>.allocate(capacity: values.count)
    table.initialize(from: values, count: values.count)
    return UnsafePointer(table)
}
