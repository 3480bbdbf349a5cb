// The platform's FileUploadDirect, reduced: a file belongs to a course, so the course row is made
// (materialize 'file_upload') before the upload starts (spec 3.2.3). The upload itself is a
// stand-in endpoint of `make dev` here (Supabase Storage on the platform).
import { useState } from 'react';

import { DraftApiError, errorMessageRu, type Materialized } from '@course-drafts/draft-session';

interface Props {
  uploadUrl: string;               // "/dev-upload/{courseId}"
  beforeUpload: () => Promise<Materialized>;
}

export function FileUploadDirect({ uploadUrl, beforeUpload }: Props) {
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  const upload = async (file: File) => {
    setResult(null);
    try {
      const { courseId } = await beforeUpload();
      const response = await fetch(uploadUrl.replace('{courseId}', courseId), { method: 'POST', body: file });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setResult({ ok: true, text: `Файл загружен: ${file.name} (курс ${courseId})` });
    } catch (err) {
      setResult({ ok: false, text: `Файл не загружен: ${err instanceof DraftApiError ? errorMessageRu(err) : String(err)}` });
    }
  };

  return (
    <label className="wide">
      Материалы курса (файл)
      <input type="file" name="file" onChange={(event) => {
        const file = event.target.files?.[0];
        if (file) void upload(file);
      }} />
      {result && <span id="upload-result" className={`notice ${result.ok ? '' : 'error'}`}>{result.text}</span>}
    </label>
  );
}
